// Package clitest checks that a command tree answers help without side
// effects: every command, found by walking the tree, so that new commands
// are covered without a test change.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/contactsync/contactsync/pkg/cli"
)

// Trap listens on a loopback port and counts the connections made to it:
// point every service address of a configuration at it, and a command that
// contacts anything shows up in Contacts.
type Trap struct {
	Addr     string
	contacts atomic.Int64
}

// NewTrap starts a Trap that stops with the test.
func NewTrap(t testing.TB) *Trap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &Trap{Addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.contacts.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return tr
}

// Contacts is how many connections the trap has accepted.
func (tr *Trap) Contacts() int64 { return tr.contacts.Load() }

// Env is a configuration that sends every service address to the trap.
func (tr *Trap) Env(extra map[string]string) func(string) string {
	env := map[string]string{}
	for _, k := range []string{"KAFKA_BROKERS", "REDIS_ADDR", "CONTACTSYNC_ADMIN_ADDR", "CONTACTSYNC_DASHBOARD_ADDR"} {
		env[k] = tr.Addr
	}
	env["SCHEMA_REGISTRY_URL"] = "http://" + tr.Addr
	env["CONTACTSYNC_DELIVER_DSN"] = "postgres://contactsync:secret@" + tr.Addr + "/contactsync?sslmode=disable"
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// Result is what one run printed and returned.
type Result struct {
	Code           int
	Stdout, Stderr string
	Took           time.Duration
}

// Run executes a fresh tree from newRoot with args.
func Run(t testing.TB, newRoot func() *cobra.Command, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	start := time.Now()
	code := cli.Execute(ctx, newRoot(), args, strings.NewReader(""), &out, &errOut)
	return Result{Code: code, Stdout: out.String(), Stderr: errOut.String(), Took: time.Since(start)}
}

// HelpArgs lists, for every command of the tree, each way to ask for its
// help: `CMD --help`, `CMD -h`, `help CMD` (trees with subcommands), and
// `CMD help` where the command takes `help` as a request for help.
func HelpArgs(root *cobra.Command) [][]string {
	var all [][]string
	cli.Walk(root, func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		with := func(pre, post []string) []string {
			return slices.Concat(pre, path, post)
		}
		all = append(all, with(nil, []string{"--help"}), with(nil, []string{"-h"}))
		if root.HasSubCommands() && len(path) > 0 {
			all = append(all, with([]string{"help"}, nil))
		}
		if c.Args != nil && errors.Is(c.Args(c, []string{"help"}), pflag.ErrHelp) {
			all = append(all, with(nil, []string{"help"}))
		}
	})
	return all
}

// CheckHelp asks every command of the tree for its help and requires exit
// 0, the usage on stdout, nothing on stderr, a prompt return and no
// connection to the trap.
func CheckHelp(t *testing.T, tr *Trap, newRoot func() *cobra.Command) {
	t.Helper()
	for _, args := range HelpArgs(newRoot()) {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			before := tr.Contacts()
			r := Run(t, newRoot, args...)
			if r.Code != cli.ExitOK || !strings.Contains(r.Stdout, "Usage:") || r.Stderr != "" {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
			if r.Took > 2*time.Second {
				t.Errorf("took %v: help must not wait on anything", r.Took)
			}
			if n := tr.Contacts() - before; n != 0 {
				t.Errorf("contacted a service %d time(s)", n)
			}
		})
	}
}
