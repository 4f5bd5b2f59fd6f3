package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time by `make build`:
//
//	-ldflags "-X github.com/contactsync/contactsync/pkg/cli.version=v1.2.0 -X github.com/contactsync/contactsync/pkg/cli.commit=abc123"
var version, commit string

// BuildInfo says which build a binary is.
type BuildInfo struct {
	Version, Commit, GoVersion string
}

// Build returns the version and commit set at link time, or else what the
// Go toolchain recorded (the module version of `go install x@v1.2.0`, the VCS
// revision of a build in a checkout), or else "devel" and "unknown".
func Build() BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
		modified := false
		rev := ""
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.Commit == "" && rev != "" {
			b.Commit = rev
			if modified {
				b.Commit += "-dirty"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func (b BuildInfo) String() string {
	return fmt.Sprintf("%s (commit %s, %s)", b.Version, b.Commit, b.GoVersion)
}

// VersionCommand is `NAME version`.
func VersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version, commit and Go version of this binary",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := Build()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "version %s\ncommit  %s\ngo      %s\n", b.Version, b.Commit, b.GoVersion)
			return err
		},
	}
}
