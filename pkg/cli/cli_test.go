package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestExecuteExitCodes(t *testing.T) {
	newRoot := func() *cobra.Command {
		root := Group(&cobra.Command{Use: "tool"})
		do := &cobra.Command{Use: "do ARG", Args: Args(1, 1, "one argument")}
		do.Flags().Bool("fail", false, "fail")
		do.RunE = func(cmd *cobra.Command, args []string) error {
			if fail, _ := cmd.Flags().GetBool("fail"); fail {
				return errors.New("it broke")
			}
			cmd.Println("did", args[0])
			return nil
		}
		root.AddCommand(do, &cobra.Command{Use: "nothing", Args: NoArgs, Run: func(*cobra.Command, []string) {}})
		return root
	}
	tests := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"do", "x"}, ExitOK, "did x", ""},
		{[]string{"do", "x", "--fail"}, ExitFail, "", "tool do: it broke"},
		{[]string{"do"}, ExitUsage, "", "takes one argument"},
		{[]string{"do", "x", "--nope"}, ExitUsage, "", "unknown flag: --nope"},
		{[]string{"do", "--help"}, ExitOK, "Usage:", ""},
		{[]string{"nothing", "help"}, ExitOK, "Usage:", ""},
		{[]string{"nothing", "else"}, ExitUsage, "", `unexpected argument "else"`},
		{[]string{}, ExitUsage, "", "a subcommand is required"},
		{[]string{"help"}, ExitOK, "Available Commands", ""},
		{[]string{"help", "do"}, ExitOK, "tool do ARG", ""},
		{[]string{"dont"}, ExitUsage, "", `unknown command "dont"`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := Execute(context.Background(), newRoot(), tt.args, nil, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.errOut) ||
			(tt.out == "" && out.Len() > 0) {
			t.Errorf("%q: exit %d (want %d)\nstdout: %s\nstderr: %s", tt.args, code, tt.code, out.String(), errOut.String())
		}
	}
}

func TestBuildPrefersLinkTimeValues(t *testing.T) {
	if b := Build(); b.Version == "" || b.Commit == "" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Errorf("defaults: %+v", b)
	}
	version, commit = "v9.9.9", "abc123"
	t.Cleanup(func() { version, commit = "", "" })
	if b := Build(); b.Version != "v9.9.9" || b.Commit != "abc123" {
		t.Errorf("link-time values ignored: %+v", b)
	}
}
