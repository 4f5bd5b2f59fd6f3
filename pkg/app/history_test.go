package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/history"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
)

func TestAuditConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want pipeline.TopicPolicy
		err  string
	}{
		{env: nil, want: pipeline.TopicPolicy{Cleanup: "delete", Retention: 90 * 24 * time.Hour}},
		{env: map[string]string{EnvAuditRetention: "-1", EnvAuditCleanup: "compact,delete"}, want: pipeline.TopicPolicy{Cleanup: "compact,delete", Retention: -1}},
		{env: map[string]string{EnvAuditRetention: "0s"}, err: EnvAuditRetention},
		{env: map[string]string{EnvAuditCleanup: "forever"}, err: EnvAuditCleanup},
	} {
		cfg, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: %v, want an error naming %s", tc.env, err, tc.err)
		case tc.err == "" && (err != nil || cfg.Audit != tc.want):
			t.Errorf("%v: %+v %v, want %+v", tc.env, cfg.Audit, err, tc.want)
		}
	}
}

// TestHistoryOnRealServices runs the pipeline on the real broker and Redis:
// changes from both systems, the sync's own write coming back, a held
// self-service change and its approval leave exactly the expected history,
// found by person id and by either system's record id.
func TestHistoryOnRealServices(t *testing.T) {
	p := startPipeline(t, nil)
	topics := p.cfg.Topics
	p.feed(topics.OfflineCDC, cdc("r", 100, "", annaRow))
	p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"evt-1","type":"contact.updated","system":"online","occurred_at":"2026-11-03T10:00:00Z","origin":"api",
		"contact":{"id":"web-1","reference_source":"online","first_name":"Anna","last_name":"Adams","email":"anna@mailbox.org","phone":"(217) 384-0101"}}`))
	p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"evt-1b","type":"contact.updated","system":"online","occurred_at":"2026-11-03T11:00:00Z","origin":"api",
		"contact":{"id":"web-1","phone":"+1 217 384 0199"}}`))
	// Our write of the phone lands offline and comes back marked as ours.
	p.feed(topics.OfflineCDC, cdc("u", 200, annaRow, strings.NewReplacer(`"+1 217 384 0101"`, `"+1 217 384 0199"`, `"admin"`, `"contactsync"`).Replace(annaRow)))
	p.feed(topics.OnlineEvents, webhook("web-1", `{"event_id":"evt-2","type":"contact.updated","system":"online","occurred_at":"2026-11-04T09:00:00Z","origin":"self_service",
		"contact":{"id":"web-1","last_name":"Adams-Ng"}}`))
	// A person approves the held change: the review tools send it on.
	reviews := p.reviews()
	if len(reviews) != 1 {
		t.Fatalf("%d review items, want 1", len(reviews))
	}
	approved := reviews[0].Change
	approved.EventID += "~approved"
	approved.Origin, approved.Values, approved.Cleared = contact.OriginAdmin, reviews[0].Proposed, nil
	val, err := p.app.Codec().EncodeChange(approved)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 2*time.Minute)
	if err := p.prod.ProduceSync(ctx, &kgo.Record{Topic: topics.Replay, Key: []byte("online/web-1"), Value: val,
		Headers: []kgo.RecordHeader{{Key: pipeline.HeaderFormat, Value: []byte(pipeline.FormatChange)}}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.waitIdle()

	h, err := p.app.History(ctx, "online:web-1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h.Entries {
		got = append(got, history.Line(e))
	}
	// One line per field decision (history.Line), tab-separated; the events
	// in the order they were routed.
	golden, err := os.ReadFile(filepath.Join("testdata", "history.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(golden), "\n"), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("history of online:web-1\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, who := range []string{"offline:OFF-1", h.PersonID} {
		other, err := p.app.History(ctx, who)
		if err != nil || other.PersonID != h.PersonID || len(other.Entries) != len(h.Entries) {
			t.Errorf("history of %s: person %s, %d entries, %v; want %s's %d", who, other.PersonID, len(other.Entries), err, h.PersonID, len(h.Entries))
		}
	}
	if _, err := p.app.History(ctx, "offline:NEVER"); err == nil {
		t.Error("a record no person holds has a history")
	}
}
