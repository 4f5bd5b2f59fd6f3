package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// pendingMetrics are exported by packages being built on other branches;
// the alerts and the Grafana dashboard may already use them. Each names
// the package (a directory of pkg) that will export it: once that package
// is on the branch the excuse ends, whatever names it chose, so an alert
// written ahead of the code cannot stay silently disabled (as
// contactsync_apply_rejections_total did when pkg/apply landed exporting
// contactsync_apply_calls_total{outcome="rejected"} instead).
var pendingMetrics = map[string]string{}

var metricName = regexp.MustCompile(`\bcontactsync_[a-z0-9_]+\b`)

// codeStrings are the string literals of pkg's non-test Go files: metric
// names are declared as literals (whole, or Namespace/Subsystem/Name parts).
func codeStrings(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(repoRoot, "pkg"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out[s] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inCode reports whether the code exports metric name: declared whole, or
// as a name under the contactsync namespace (and the runner's "stage"
// subsystem), or under kprom's contactsync_kafka namespace; histogram
// series suffixes are the histogram's.
func inCode(strs map[string]bool, name string) bool {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && inCode(strs, base) {
			return true
		}
	}
	if strs[name] {
		return true
	}
	if strings.HasPrefix(name, "contactsync_kafka_") && strs["contactsync_kafka"] {
		return true
	}
	for _, prefix := range []string{"contactsync_stage_", "contactsync_"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok && strs[rest] {
			return true
		}
	}
	return false
}

// checkPending fails for every pending metric that is in the code, or
// whose package exists: either way it is pending no more.
func checkPending(t *testing.T, strs map[string]bool, pending map[string]string) {
	t.Helper()
	for name, pkg := range pending {
		switch _, err := os.Stat(filepath.Join(repoRoot, "pkg", pkg)); {
		case inCode(strs, name):
			t.Errorf("%s is in the code now: remove it from pendingMetrics", name)
		case err == nil:
			t.Errorf("%s is pending on pkg/%s, which exists and does not export it: use the metrics it exports", name, pkg)
		}
	}
}

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readAlerts(t *testing.T) alertRules {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return rules
}

// Every metric the alerting rules use is exported by the code (or by a
// command being built, listed in pendingMetrics): a renamed metric would
// silently disable its alert.
func TestAlertRulesUseMetricsOfTheCode(t *testing.T) {
	strs := codeStrings(t)
	checkPending(t, strs, pendingMetrics)
	rules := readAlerts(t)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if _, pending := pendingMetrics[m]; !pending && !inCode(strs, m) {
					t.Errorf("alert %s uses %s, which no code exports", r.Alert, m)
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("alerts.yml has %d rules", n)
	}
}

// The Grafana dashboard parses, and every contactsync metric its queries
// use is exported by the code (or pending).
func TestGrafanaDashboardUsesKnownMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "contactsync.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("contactsync.json: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard without uid or panels: %q, %d panels", dash.UID, len(dash.Panels))
	}
	strs := codeStrings(t)
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				if _, pending := pendingMetrics[m]; !pending && !inCode(strs, m) {
					t.Errorf("panel %q uses %s, which no code exports", p.Title, m)
				}
			}
		}
	}
}
