package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/contactsync/contactsync/pkg/app"
)

// There is no Docker engine where the tests run, so docker-compose.yml is
// checked for what can go stale: the services it builds, the Dockerfile it
// names, and the configuration variables it sets.
func TestComposeFileMatchesTheCode(t *testing.T) {
	root := filepath.Join("..", "..")
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context    string            `yaml:"context"`
				Dockerfile string            `yaml:"dockerfile"`
				Args       map[string]string `yaml:"args"`
			} `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	known := map[string]bool{}
	for _, e := range app.Env {
		known[e.Name] = true
	}
	for _, stage := range []string{"ingest", "matcher", "router", "kickouts", "topics"} {
		svc, ok := compose.Services[stage]
		if !ok {
			t.Errorf("compose has no service %q", stage)
			continue
		}
		if _, err := os.Stat(filepath.Join(root, svc.Build.Dockerfile)); err != nil {
			t.Errorf("service %s: dockerfile %q: %v", stage, svc.Build.Dockerfile, err)
		}
		target := svc.Build.Args["SERVICE"]
		if _, err := os.Stat(filepath.Join(root, "services", target, "main.go")); err != nil {
			t.Errorf("service %s builds SERVICE=%q which has no main.go", stage, target)
		}
		for name := range svc.Environment {
			if !known[name] {
				t.Errorf("service %s sets %s, which no code reads", stage, name)
			}
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "deploy", "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"schemas/", "pkg/", "services/", "go.work"} {
		if !strings.Contains(string(dockerfile), "COPY "+dir) {
			t.Errorf("Dockerfile does not copy %s", dir)
		}
	}
}
