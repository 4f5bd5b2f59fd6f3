package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/cli"
)

// repoRoot is the repository root, seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

// pendingLabel marks a compose service whose command is being built on
// another branch (see the head of docker-compose.yml).
const pendingLabel = "io.contactsync.pending"

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Healthcheck *struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	Restart string            `yaml:"restart"`
	Ports   []string          `yaml:"ports"`
	Volumes []string          `yaml:"volumes"`
	Labels  map[string]string `yaml:"labels"`
}

func readCompose(t *testing.T) map[string]composeService {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml (environment must be maps, command and healthcheck tests lists): %v", err)
	}
	return compose.Services
}

// findCommand resolves args (a compose command, without the binary) in the
// command tree and parses its flags and arguments as a run would.
func findCommand(args []string) (*cobra.Command, error) {
	root := newRoot(func(string) string { return "" })
	cmd, rest, err := root.Find(args)
	if err != nil {
		return nil, err
	}
	if cmd == root {
		return nil, cli.Usagef("no command in %q", args)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return nil, err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return nil, err
	}
	return cmd, nil
}

// envNamesInCode are the variables the code documents: `contactsync env`
// (app.Env, with the NAME_FILE forms its help names) and every variable
// named in a command's help (the gateway and platform-sim list theirs
// there).
func envNamesInCode(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	name := regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b`)
	for _, e := range app.Env {
		known[e.Name] = true
		for _, n := range name.FindAllString(e.Help, -1) {
			if n == e.Name+"_FILE" {
				known[n] = true
			}
		}
	}
	cli.Walk(newRoot(func(string) string { return "" }), func(c *cobra.Command) {
		var help bytes.Buffer
		c.SetOut(&help)
		if err := c.Help(); err != nil {
			t.Errorf("%s: help: %v", c.CommandPath(), err)
		}
		for _, n := range name.FindAllString(help.String(), -1) {
			known[n] = true
		}
	})
	return known
}

// There is no Docker engine where the tests run, so docker-compose.yml is
// checked against the code: the commands its services run and their health
// checks exist and parse, the variables they set are read by the code,
// every stage runs, ports are published on loopback only, the files it
// mounts exist, and Kafka and Debezium are the harness's versions.
func TestComposeFileMatchesTheCode(t *testing.T) {
	services := readCompose(t)
	known := envNamesInCode(t)
	stagesRun := map[string]bool{}
	for name, svc := range services {
		ours := svc.Build != nil
		if ours {
			if svc.Image != "contactsync:local" {
				t.Errorf("service %s: image %q, want contactsync:local (one image for every service)", name, svc.Image)
			}
			if svc.Build.Dockerfile != "deploy/docker/Dockerfile" || svc.Build.Context != "." {
				t.Errorf("service %s: build %+v, want context . and deploy/docker/Dockerfile", name, *svc.Build)
			}
			_, pending := svc.Labels[pendingLabel]
			_, err := findCommand(svc.Command)
			var unknown []string
			for env := range svc.Environment {
				if !known[env] {
					unknown = append(unknown, env)
				}
			}
			switch {
			case err != nil && !pending:
				t.Errorf("service %s: command %q: %v", name, svc.Command, err)
			case !pending && len(unknown) > 0:
				t.Errorf("service %s sets %v, which no code reads (not in contactsync env nor in any command's help)", name, unknown)
			case pending && err == nil && len(unknown) == 0:
				t.Errorf("service %s: command %q and its settings exist now: remove its %s label", name, svc.Command, pendingLabel)
			case pending:
				t.Logf("service %s: pending (%s): command error %v, unknown settings %v", name, svc.Labels[pendingLabel], err, unknown)
			}
			if len(svc.Command) == 3 && svc.Command[0] == "run" && svc.Command[1] == "--stages" {
				for _, s := range strings.Split(svc.Command[2], ",") {
					stagesRun[s] = true
				}
			}
		}
		switch hc := svc.Healthcheck; {
		case hc == nil || (hc.Disable && svc.Restart != "no"):
			t.Errorf("service %s has no health check", name)
		case hc.Disable:
			// A one-shot job (topics): done is its health.
		case ours:
			if len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/contactsync" {
				t.Errorf("service %s: health check %q, want [CMD /contactsync healthcheck ...] (the image has no shell)", name, hc.Test)
			} else if _, err := findCommand(hc.Test[2:]); err != nil {
				t.Errorf("service %s: health check %q: %v", name, hc.Test, err)
			}
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q beyond loopback; want 127.0.0.1:HOST:CONTAINER", name, p)
			}
		}
		for _, v := range svc.Volumes {
			if host, _, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(host, "./") {
				if _, err := os.Stat(filepath.Join(repoRoot, host)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, host, err)
				}
			}
		}
	}
	for _, s := range app.AllStages {
		if !stagesRun[s] {
			t.Errorf("no compose service runs stage %s (command: [run, --stages, %s])", s, s)
		}
	}
	if svc, ok := services["topics"]; !ok || !slices.Equal(svc.Command, []string{"topics"}) {
		t.Errorf("no topics service creating the topics: %+v", svc)
	}
	pom, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "harness", "kafka", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<kafka.version>([^<]+)</kafka.version>`).FindSubmatch(pom)
	if m == nil {
		t.Fatal("pom.xml: no kafka.version")
	}
	if want := "apache/kafka:" + string(m[1]); services["kafka"].Image != want {
		t.Errorf("kafka image %q, want %q (the harness's version)", services["kafka"].Image, want)
	}
	connectPom, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "harness", "connect", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	m = regexp.MustCompile(`<debezium.version>([^<]+)</debezium.version>`).FindSubmatch(connectPom)
	if m == nil {
		t.Fatal("connect/pom.xml: no debezium.version")
	}
	if want := "quay.io/debezium/connect:" + string(m[1]); services["connect"].Image != want {
		t.Errorf("connect image %q, want %q (the harness's Debezium)", services["connect"].Image, want)
	}
}

// The image builds the one contactsync binary from the workspace, ends on a
// distroless base with it as entrypoint, and .dockerignore keeps what the
// build needs.
func TestDockerfileBuildsTheOneImage(t *testing.T) {
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"COPY go.work ", "COPY schemas/", "COPY pkg/", "COPY services/", "cd services/contactsync",
		"FROM gcr.io/distroless/", "COPY --from=build /out/contactsync /contactsync", `ENTRYPOINT ["/contactsync"]`,
		`HEALTHCHECK `, `"/contactsync", "healthcheck"`, "COPY deploy/config/rules.yaml "} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if _, err := findCommand([]string{"healthcheck"}); err != nil {
		t.Errorf("the Dockerfile's HEALTHCHECK runs a missing command: %v", err)
	}
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, needed := range []string{"go.work", "go.work.sum", "schemas", "pkg", "services", "deploy", "deploy/config"} {
			if line == needed || line == needed+"/" {
				t.Errorf(".dockerignore excludes %s, which the build copies", needed)
			}
		}
	}
	for _, secret := range []string{".env", ".git"} {
		if !slices.Contains(strings.Fields(string(ignore)), secret) {
			t.Errorf(".dockerignore does not exclude %s", secret)
		}
	}
}
