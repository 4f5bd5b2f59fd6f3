package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/cli/clitest"
)

// Every command and subcommand answers --help, -h and help with its usage,
// exit 0 and no side effect, even when every service address and the
// delivery DSN are set.
func TestEveryCommandAnswersHelp(t *testing.T) {
	tr := clitest.NewTrap(t)
	newTree := func() *cobra.Command { return newRoot(tr.Env(nil)) }
	var names []string
	cli.Walk(newTree(), func(c *cobra.Command) { names = append(names, c.CommandPath()) })
	// The walk must see the whole tree, or the table would be thin.
	for _, want := range []string{"contactsync topics", "contactsync deliver", "contactsync rules check",
		"contactsync kickouts replay", "contactsync match explain", "contactsync version",
		"contactsync gateway", "contactsync platform-sim", "contactsync apply", "contactsync history",
		"contactsync digest", "contactsync kickouts export", "contactsync kickouts export-reviews"} {
		if !strings.Contains(strings.Join(names, "\n")+"\n", want+"\n") {
			t.Fatalf("walk missed %q: %v", want, names)
		}
	}
	clitest.CheckHelp(t, tr, newTree)
}

// The trap notices a command that does contact a service (or the help test
// could pass while every command reached out).
func TestTrapSeesARealRun(t *testing.T) {
	tr := clitest.NewTrap(t)
	r := clitest.Run(t, func() *cobra.Command { return newRoot(tr.Env(nil)) }, "topics")
	if r.Code != cli.ExitFail || tr.Contacts() == 0 {
		t.Fatalf("topics against the trap: exit %d, %d contact(s)\n%s", r.Code, tr.Contacts(), r.Stderr)
	}
}

func TestBadCommandLinesAreUsageErrors(t *testing.T) {
	tr := clitest.NewTrap(t)
	newTree := func() *cobra.Command { return newRoot(tr.Env(nil)) }
	for _, args := range [][]string{{}, {"frobnicate"}, {"topics", "extra"}, {"deliver", "--dsn", "x"}, {"run", "--bogus"},
		{"rules"}, {"rules", "check"}, {"rules", "check", "a.yaml", "b.yaml"}, {"kickouts", "show"}, {"match"},
		{"match-eval"}, {"version", "--short"}, {"gateway", "x"}, {"platform-sim", "--bogus"}, {"apply", "x"},
		{"history"}, {"history", "a", "b"}, {"digest", "x"}, {"digest", "--day", "yesterday"},
		{"kickouts", "export", "--status", "nope"}, {"kickouts", "export-reviews", "x"}} {
		r := clitest.Run(t, newTree, args...)
		if r.Code != cli.ExitUsage || !strings.Contains(r.Stderr, "Usage:") || r.Stdout != "" {
			t.Errorf("%q: exit %d, want %d with the usage on stderr\nstdout: %s\nstderr: %s", args, r.Code, cli.ExitUsage, r.Stdout, r.Stderr)
		}
	}
	if n := tr.Contacts(); n != 0 {
		t.Errorf("usage errors contacted a service %d time(s)", n)
	}
}

func TestVersion(t *testing.T) {
	r := clitest.Run(t, func() *cobra.Command { return newRoot(func(string) string { return "" }) }, "version")
	b := cli.Build()
	for _, want := range []string{"version " + b.Version, "commit  " + b.Commit, "go      " + b.GoVersion} {
		if r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Errorf("version: exit %d, lacks %q:\n%s", r.Code, want, r.Stdout)
		}
	}
}

// `contactsync env` is the configuration reference: every variable a
// command's help names (the digest lists its own there) is in it, so the
// compose and chart checks, which accept both, cannot know a variable the
// reference leaves out.
func TestEnvListsEveryVariableTheHelpNames(t *testing.T) {
	r := clitest.Run(t, func() *cobra.Command { return newRoot(func(string) string { return "" }) }, "env")
	if r.Code != 0 {
		t.Fatalf("env: exit %d\n%s", r.Code, r.Stderr)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(r.Stdout, "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			listed[f[0]] = true
		}
	}
	for name := range envNamesInCode(t) {
		ours := false
		for _, prefix := range []string{"CONTACTSYNC_", "KAFKA_", "REDIS_", "SCHEMA_REGISTRY_"} {
			ours = ours || strings.HasPrefix(name, prefix)
		}
		// A secret may be named as NAME or NAME_FILE; the list has one of them.
		if ours && !listed[name] && !listed[name+"_FILE"] && !listed[strings.TrimSuffix(name, "_FILE")] {
			t.Errorf("%s is named in a command's help but not listed by contactsync env", name)
		}
	}
}
