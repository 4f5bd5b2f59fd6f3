package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/contactsync/contactsync/pkg/cli"
	"github.com/contactsync/contactsync/pkg/cli/clitest"
)

// contactsync digest reads the store the configuration names and posts to
// the webhook; --dry-run prints; without a destination it refuses before
// opening anything.
func TestDigestCommand(t *testing.T) {
	redisAddr, brokers := os.Getenv("REDIS_ADDR"), os.Getenv("KAFKA_BROKERS")
	if redisAddr == "" || brokers == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but REDIS_ADDR or KAFKA_BROKERS is unset: run the tests through `make test`")
		}
		t.Skip("REDIS_ADDR or KAFKA_BROKERS is unset: this test needs the services `make test` starts")
	}
	var mu sync.Mutex
	var posted []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		posted = append(posted, body["text"])
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	env := map[string]string{"KAFKA_BROKERS": brokers, "REDIS_ADDR": redisAddr,
		"CONTACTSYNC_REDIS_PREFIX": fmt.Sprintf("digest-%d", time.Now().UnixNano()), "CONTACTSYNC_DIGEST_DASHBOARD_URL": "https://cs.example.org"}
	tree := func() *cobra.Command { return newRoot(func(k string) string { return env[k] }) }

	r := clitest.Run(t, tree, "digest")
	if r.Code != cli.ExitFail || !strings.Contains(r.Stderr, "CONTACTSYNC_DIGEST_WEBHOOK_URL") {
		t.Fatalf("digest without a destination: exit %d\n%s", r.Code, r.Stderr)
	}
	r = clitest.Run(t, tree, "digest", "--dry-run", "--day", "2026-12-02")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "Subject: contactsync: 0 kick-outs on 2026-12-02, 0 reviews pending\n") ||
		!strings.Contains(r.Stdout, "https://cs.example.org/#/review") {
		t.Fatalf("dry run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	env["CONTACTSYNC_DIGEST_WEBHOOK_URL"] = hook.URL + "/hook"
	r = clitest.Run(t, tree, "digest")
	mu.Lock()
	defer mu.Unlock()
	if r.Code != 0 || len(posted) != 1 || !strings.Contains(posted[0], "contactsync daily digest for") ||
		!strings.Contains(r.Stderr, "digest sent") {
		t.Fatalf("digest: exit %d, posted %q\n%s", r.Code, posted, r.Stderr)
	}
}
