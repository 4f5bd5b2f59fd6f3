// Package cli holds the conventions every contactsync command line shares:
// commands are github.com/spf13/cobra commands, `--help`, `-h` and `help`
// print usage on stdout and exit 0 before anything else runs, and a run ends
// with exit code 0 (done), 1 (failed) or 2 (bad usage).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of every command.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// ErrUsage marks errors the caller made in the command line: they exit 2
// and are followed by the command's usage.
var ErrUsage = errors.New("usage error")

// Usagef returns an error wrapping ErrUsage.
func Usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// Execute runs root with args and returns the exit code. Help goes to
// stdout; errors, and the usage after a usage error, go to stderr.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root.SetArgs(append([]string{}, args...)) // never os.Args: cobra falls back to them when args is nil
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	})
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	if errors.Is(err, ErrUsage) {
		fmt.Fprintf(stderr, "\n%s", cmd.UsageString())
		return ExitUsage
	}
	return ExitFail
}

// Group makes cmd, a command with subcommands, answer on its own: `help`
// prints its usage and exits 0, no argument or an unknown subcommand is a
// usage error (cobra would print the help and exit 0 for both).
func Group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return Usagef("a subcommand is required")
		case args[0] == "help":
			return pflag.ErrHelp
		}
		return Usagef("unknown command %q", args[0])
	}
	cmd.RunE = func(*cobra.Command, []string) error { return nil } // Args never lets a call through
	return cmd
}

// NoArgs accepts no positional argument; `help` alone prints the usage.
func NoArgs(_ *cobra.Command, args []string) error {
	if slices.Equal(args, []string{"help"}) {
		return pflag.ErrHelp
	}
	if len(args) > 0 {
		return Usagef("unexpected argument %q", args[0])
	}
	return nil
}

// Args accepts between min and max positional arguments (max < 0: no limit),
// named what in the error.
func Args(min, max int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return Usagef("takes %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}

// Walk calls fn for root and every command below it that a user can run
// or ask for help on (cobra's own help command included).
func Walk(root *cobra.Command, fn func(*cobra.Command)) {
	fn(root)
	for _, c := range root.Commands() {
		if c.Hidden {
			continue
		}
		Walk(c, fn)
	}
}
