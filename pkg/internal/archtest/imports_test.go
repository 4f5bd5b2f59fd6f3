package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/contactsync/contactsync/pkg/"

// pure are the domain packages: standard library, other pure packages and
// small pure libraries only.
var pure = []string{"contact", "normalize", "match", "rules", "decode", "window", "backoff", "failpoint", "sampledata", "offlineapply", "history", "stripe", "webhooksig", "fieldmap", "digest", "baseline"}

// ioImports are imports that mean I/O, logging or metrics: never in a pure package.
var ioImports = []string{
	"github.com/twmb/franz-go", "github.com/redis/go-redis", "github.com/jackc/pgx", "go.uber.org/zap",
	"github.com/prometheus/", "github.com/linkedin/goavro", "net/http", "database/sql", "os/exec",
}

// adapters are the packages that talk to the outside world; a stage
// declares the ports it needs instead of importing them.
var adapters = []string{"avrocodec", "redisstore", "pgstore", "filedrop", "kafkaops", "obs", "dashboard", "app", "stream", "demo", "digest/notify"}

var stages = []string{"pipeline", "pipeline/ingest", "pipeline/matcher", "pipeline/router", "pipeline/collector"}

// knownExceptions are imports that break the rules today and are being
// removed. None now: every stage declares the ports it uses.
var knownExceptions = map[string]bool{}

// imports returns the non-test imports of package dir (relative to pkg/).
func imports(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("package %s has no Go files: update the lists in this test", dir)
	}
	var out []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out = append(out, p)
		}
	}
	return out
}

func within(path string, pkgs []string) (string, bool) {
	rel, ok := strings.CutPrefix(path, module)
	if !ok {
		return "", false
	}
	for _, p := range pkgs {
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return p, true
		}
	}
	return rel, false
}

func TestPurePackagesDoNoIO(t *testing.T) {
	for _, pkg := range pure {
		for _, imp := range imports(t, pkg) {
			for _, bad := range ioImports {
				if strings.HasPrefix(imp, bad) {
					t.Errorf("pure package %s imports %s", pkg, imp)
				}
			}
			if rel, ok := within(imp, pure); !ok && strings.HasPrefix(imp, module) {
				t.Errorf("pure package %s imports %s, which is not pure", pkg, rel)
			}
		}
	}
}

func TestStagesImportNoAdapter(t *testing.T) {
	for _, st := range stages {
		for _, imp := range imports(t, st) {
			if a, ok := within(imp, adapters); ok && !knownExceptions[st+" -> "+a] {
				t.Errorf("stage package %s imports the adapter %s: declare the port in the stage instead", st, a)
			}
		}
	}
}

// TestReviewDependsOnItsStoreNotOnRedis: the review declares its Store and
// the dashboard works through the review, so neither imports redisstore.
func TestReviewDependsOnItsStoreNotOnRedis(t *testing.T) {
	for _, pkg := range []string{"review", "dashboard"} {
		for _, imp := range imports(t, pkg) {
			if rel, _ := within(imp, nil); rel == "redisstore" || strings.HasPrefix(rel, "redisstore/") {
				t.Errorf("%s imports %s: go through review.Store", pkg, imp)
			}
		}
	}
}
