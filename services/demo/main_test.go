package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/cli/clitest"
)

func TestDemoCommandLine(t *testing.T) {
	tr := clitest.NewTrap(t)
	newCmd := func() *cobra.Command { return newCommand(tr.Env(nil), false) }
	clitest.CheckHelp(t, tr, newCmd)
	for _, args := range [][]string{{"extra"}, {"--seed", "x"}, {"-seed", "7"}} {
		if r := clitest.Run(t, newCmd, args...); r.Code != cli.ExitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, r.Code, cli.ExitUsage, r.Stderr)
		}
	}
}

// TestDemoClosesTheOnlineLoop runs a small demo and checks that it reports
// every edge of the online loop: the platform's webhooks through the
// gateway (the unsigned and the replayed one refused, the redelivered one
// taken once), the applier's calls with the injected 429s and 500s
// retried, the link-only write-backs of offline ids, and the offline ids
// on the platform.
func TestDemoClosesTheOnlineLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline in-process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errOut strings.Builder
	if code := cli.Execute(ctx, newCommand(func(string) string { return "" }, false), []string{"--offline", "10", "--timeout", "3m"},
		strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	stdout := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`phase 2, online donors and gifts \(platform API\): +0 CDC rows, +\d+ webhooks, pipeline idle`),
		regexp.MustCompile(`offline system applies the creates \(its CDC\): +\d+ CDC rows`),
		regexp.MustCompile(`Online edge: platform-sim http://127\.0\.0\.1:\d+ -> gateway http://127\.0\.0\.1:\d+/webhooks/platform`),
		regexp.MustCompile(`webhooks sent +\d+ +contact\.created \d+, .*gift\.created \d+; by origin: api \d+, self_service 2.*; not delivered 0`),
		regexp.MustCompile(`gateway answered +\d+ +200 accepted \d+, 200 duplicate 1, 400 invalid_json 1, 401 timestamp_missing 1, 401 timestamp_too_old 1\n`),
		regexp.MustCompile(`applier API calls +\d+ +creates \d+, updates [1-9]\d* \(link-only [1-9]\d*\), gifts \d+, refused 0; retried: 429 2, 500 2 \(injected\)`),
		regexp.MustCompile(`offline ids back +[1-9]\d* +of \d+ platform contacts carry external_ids\.offline`),
		regexp.MustCompile(`Kick-outs: \d+ kept`),
		regexp.MustCompile(`Review queue: \d+ item`),
	} {
		if !want.MatchString(stdout) {
			t.Errorf("output lacks %s\n%s", want, stdout)
		}
	}
}
