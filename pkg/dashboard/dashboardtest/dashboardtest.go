// Package dashboardtest runs the kick-out dashboard in tests: a Redis-backed
// store and a Kafka producer from testenv (the real services under
// `make test`, in-process stand-ins otherwise), a server with one user on
// 127.0.0.1, and the Playwright script that drives Debian's Chromium
// through it. Pipeline-level tests reuse it with their own Deps.
package dashboardtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/dashboard"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/redisstore"
	"github.com/contactsync/contactsync/pkg/review"
)

// Env is a dashboard's dependencies on test services, with topics and keys
// of its own.
type Env struct {
	Deps    review.Deps
	Queue   *redisstore.Queue
	Codec   *avrocodec.Codec
	Sources review.Sources
	Brokers []string
	Client  *kgo.Client
}

// NewEnv builds an Env: unique topic names (the replay topic created with
// one partition, so tests can rely on its order) and a unique Redis prefix.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	rdb, _ := testenv.Redis(t)
	brokers, _ := testenv.Kafka(t)
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.Unique("dash")
	topics := pipeline.DefaultTopics()
	for _, p := range []*string{&topics.OfflineCDC, &topics.OnlineEvents, &topics.Replay, &topics.Changes,
		&topics.Matched, &topics.KickOuts, &topics.Review, &topics.SinkPrefix} {
		*p = prefix + "." + *p
	}
	ctx := testenv.Context(t, 30*time.Second)
	if err := kafkaops.EnsureTopics(ctx, brokers, []string{topics.Replay}, 1, 1); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	src := review.Sources{Topology: pipeline.NewTopology(pipeline.TopologyConfig{Topics: topics, GroupPrefix: prefix,
		Sources: pipeline.DefaultSources(topics, "offline", "online"), Targets: []string{"offline", "online"}})}
	q := redisstore.NewQueue(rdb, redisstore.Keys{Prefix: prefix}, codec, 0,
		redisstore.WithFacts(review.FactsReader(src, codec)))
	return &Env{
		Deps: review.Deps{Store: q, Producer: cl, Codec: codec, Sources: src, MaxReplays: 10,
			Log: zaptest.NewLogger(t)},
		Queue: q, Codec: codec, Sources: src, Brokers: brokers, Client: cl,
	}
}

// ReadTopic returns every record of topic so far.
func (e *Env) ReadTopic(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	recs, err := kafkaops.ReadTopic(ctx, e.Brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Header returns a record header's value.
func Header(r *kgo.Record, key string) string {
	v, _ := pipeline.Header(r, key)
	return v
}

// User and Password are the credentials StartServer configures.
const (
	User     = "dana"
	Password = "correct horse battery staple"
)

// UsersConfig is a Config.Users value for User/Password, hashed at
// bcrypt's lowest cost to keep tests fast (production hashes use
// dashboard.HashPassword).
func UsersConfig(t testing.TB) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return User + ":" + string(hash)
}

// StartServer serves the dashboard for deps on 127.0.0.1 (a free port)
// until the test ends, and returns its base URL. Log in as User/Password.
func StartServer(t testing.TB, deps review.Deps, opts ...dashboard.Option) string {
	t.Helper()
	srv, err := dashboard.New(dashboard.Config{Users: UsersConfig(t)}, deps, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dashboard server: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Chromium is where Debian's chromium package puts the browser.
const Chromium = "/usr/bin/chromium"

// RequireBrowser skips the test when Chromium or the Playwright package is
// missing (deploy/harness/browser-deps.sh installs both), except in CI
// (CI=true), where it fails: there the browser test must run.
func RequireBrowser(t testing.TB) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(Chromium); err != nil {
		missing = append(missing, Chromium)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(RepoRoot(), "tests", "browser", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "tests/browser/node_modules/playwright-core")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("browser test needs %v: run deploy/harness/browser-deps.sh", missing)
	if testenv.InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Scenario tells the Playwright script what to look for and how to fix it.
type Scenario struct {
	// Search finds the kick-out to fix (a record id, event id or email).
	Search string
	// FixFind is replaced by FixReplace in the kick-out's payload.
	FixFind, FixReplace string
	// ShotsDir receives the screenshots (queue.png, record.png, review.png,
	// audit.png); empty: a temporary directory.
	ShotsDir string
	// SkipReview skips approving a review item (for a queue without one).
	SkipReview bool
	// Timeout bounds the whole script (default two minutes).
	Timeout time.Duration
}

// RunPersonBrowser runs tests/browser/person.mjs against the dashboard at
// url: from kickOutID's record view to its person's page (entries rows),
// from a review item to its person, and the queue's export link.
func RunPersonBrowser(t testing.TB, url, kickOutID, personID string, entries int, shotsDir string) {
	t.Helper()
	runScript(t, "person.mjs", url, shotsDir, 2*time.Minute, "CS_KICKOUT="+kickOutID, "CS_PERSON="+personID,
		fmt.Sprintf("CS_ENTRIES=%d", entries))
}

// runScript runs a Playwright script of tests/browser against url.
func runScript(t testing.TB, name, url, shotsDir string, timeout time.Duration, env ...string) {
	t.Helper()
	if shotsDir == "" {
		shotsDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(RepoRoot(), "tests", "browser", name), url, User, Password, shotsDir)
	cmd.Env = append(append(os.Environ(), "CS_CHROMIUM="+Chromium), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	t.Logf("%s output:\n%s", name, out.String())
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("browser script %s timed out after %v", name, timeout)
	}
	if err != nil {
		t.Fatalf("browser script %s: %v", name, err)
	}
}

// RunBrowser runs tests/browser/dashboard.mjs against the dashboard at url:
// it finds the kick-out, fixes and resubmits it, approves the first
// pending review item (unless SkipReview) and takes screenshots. The script's output goes to
// the test log.
func RunBrowser(t testing.TB, url string, sc Scenario) {
	t.Helper()
	if sc.ShotsDir == "" {
		sc.ShotsDir = t.TempDir()
	}
	if sc.Timeout == 0 {
		sc.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), sc.Timeout)
	defer cancel()
	script := filepath.Join(RepoRoot(), "tests", "browser", "dashboard.mjs")
	cmd := exec.CommandContext(ctx, "node", script, url, User, Password, sc.ShotsDir)
	cmd.Env = append(os.Environ(),
		"CS_SEARCH="+sc.Search, "CS_FIX_FIND="+sc.FixFind, "CS_FIX_REPLACE="+sc.FixReplace,
		"CS_CHROMIUM="+Chromium)
	if sc.SkipReview {
		cmd.Env = append(cmd.Env, "CS_SKIP_REVIEW=1")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	t.Logf("dashboard.mjs output:\n%s", out.String())
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("browser script timed out after %v", sc.Timeout)
	}
	if err != nil {
		t.Fatalf("browser script: %v", err)
	}
}
