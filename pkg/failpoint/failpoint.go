// Package failpoint crashes the process at named points in the code, so that
// fault tests can kill a stage exactly where exactly-once is hardest: after
// its Redis writes and before its Kafka commit. It is off unless configured.
package failpoint

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// EnvVar configures failpoints: comma-separated name=probability pairs,
// e.g. "router.before-commit=0.05,matcher.after-commit=0.02".
const EnvVar = "CONTACTSYNC_FAILPOINTS"

// Set holds the configured failpoints. The zero value has none.
type Set struct {
	prob map[string]float64
	// crash is how a hit ends the process; tests of this package replace it.
	crash func(name string)
}

// Parse reads a failpoint spec (see EnvVar).
func Parse(spec string) (*Set, error) {
	s := &Set{prob: map[string]float64{}}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, p, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not name=probability", EnvVar, part)
		}
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 1 {
			return nil, fmt.Errorf("%s: %q: probability must be in [0,1]", EnvVar, part)
		}
		s.prob[name] = f
	}
	return s, nil
}

// Hit crashes the process with the configured probability of name. The
// crash is a SIGKILL to itself: no deferred cleanup, no graceful close, as
// when the kernel or an operator kills the process.
func (s *Set) Hit(name string) {
	if s == nil || len(s.prob) == 0 {
		return
	}
	p, ok := s.prob[name]
	if !ok || rand.Float64() >= p {
		return
	}
	if s.crash != nil {
		s.crash(name)
		return
	}
	fmt.Fprintf(os.Stderr, "failpoint %s: killing the process\n", name)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

// On reports whether name is configured with probability 1: a switch rather
// than a crash, used to break a safety mechanism on purpose and show that
// the fault suite notices.
func (s *Set) On(name string) bool {
	return s != nil && s.prob[name] == 1
}
