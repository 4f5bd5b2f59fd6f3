package review_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/review"
	"github.com/contactsync/contactsync/pkg/review/reviewtest"
)

// fakeProducer records what the service sends; fail makes sends fail.
type fakeProducer struct {
	sent []*kgo.Record
	fail error
}

func (p *fakeProducer) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	var out kgo.ProduceResults
	for _, r := range rs {
		if p.fail != nil {
			out = append(out, kgo.ProduceResult{Record: r, Err: p.fail})
			continue
		}
		r.Offset = int64(len(p.sent))
		p.sent = append(p.sent, r)
		out = append(out, kgo.ProduceResult{Record: r})
	}
	return out
}

var t0 = time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)

// seeded is a service over a store holding one kick-out and one review
// item in each status.
func seeded(t *testing.T, producer review.Producer) (*review.Service, *reviewtest.Store) {
	t.Helper()
	ctx := context.Background()
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	src := review.Sources{Topology: pipeline.DefaultTopology()}
	store := reviewtest.New()
	store.Facts = review.FactsReader(src, codec)
	ko := func(id string) contact.KickOut {
		return contact.KickOut{ID: id, Stage: "ingest", Reason: "validate.field", Error: "bad email",
			Topic: src.Topics.OnlineEvents, Key: []byte("web-" + id), EventID: "evt-" + id,
			Value: []byte(`{"event_id":"evt-` + id + `","contact":{"id":"web-` + id + `","email":"x@y"}}`), FirstSeen: t0}
	}
	if err := store.SaveKickOuts(ctx, []contact.KickOut{ko("open"), ko("replayed"), ko("resolved")}); err != nil {
		t.Fatal(err)
	}
	rv := func(id string) contact.ReviewItem {
		return contact.ReviewItem{ID: id, PersonID: "p-1", TargetSystem: "offline", Reason: "review.field", Created: t0,
			Proposed: contact.Values{contact.FamilyName: "Smythe"},
			Change: contact.Change{EventID: "evt-" + id, SourceSystem: "online", SourceRecordID: "web-1",
				Origin: contact.OriginSelfService, Op: contact.OpUpsert, Values: contact.Values{contact.FamilyName: "Smythe"}}}
	}
	if err := store.SaveReviews(ctx, []contact.ReviewItem{rv("pending"), rv("approved"), rv("rejected")}); err != nil {
		t.Fatal(err)
	}
	d := review.Decision{Who: "sam", At: t0, Why: "set up"}
	for _, err := range []error{
		store.MarkReplayed(ctx, "replayed", review.ReplayInfo{At: t0, Who: "sam", Count: 1}),
		store.Resolve(ctx, "resolved", d),
		store.DecideReview(ctx, "approved", review.ReviewApproved, d, "evt-approved~approved"),
		store.DecideReview(ctx, "rejected", review.ReviewRejected, d, ""),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	svc, err := review.NewService(review.Deps{Store: store, Producer: producer, Codec: codec, Sources: src,
		Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	return svc, store
}

func TestTransitions(t *testing.T) {
	edited := `{"event_id":"evt-open","contact":{"id":"web-open","email":"x@y.org"}}`
	notJSON := `{"contact":`
	for _, tc := range []struct {
		name string
		// act is one person's action; item is the id whose status it changes.
		act     func(context.Context, *review.Service) error
		item    string
		failing error // the producer fails with it
		// wantErr is what errors.Is finds (nil: success); then the item has
		// wantStatus, sent records went out, and the newest audit entry is
		// wantAudit ("" when nothing is audited).
		wantErr    error
		wantStatus string
		sent       int
		wantAudit  string
	}{
		{"replay open", replay("open", nil), "open", nil, nil, review.KickOutReplayed, 1, review.AuditReplay},
		{"fix and resubmit open", replay("open", &edited), "open", nil, nil, review.KickOutReplayed, 1, review.AuditFixResubmit},
		{"fix with broken JSON", replay("open", &notJSON), "open", nil, review.ErrInvalid, review.KickOutOpen, 0, ""},
		{"replay replayed", replay("replayed", nil), "replayed", nil, review.ErrConflict, review.KickOutReplayed, 0, ""},
		{"replay resolved", replay("resolved", nil), "resolved", nil, review.ErrConflict, review.KickOutResolved, 0, ""},
		{"replay missing", replay("nope", nil), "", nil, review.ErrNotFound, "", 0, ""},
		{"replay when the send fails", replay("open", nil), "open", errors.New("broker down"), nil, review.KickOutOpen, 0, ""},
		{"resolve open", resolve("open", "fixed at the source"), "open", nil, nil, review.KickOutResolved, 0, review.AuditResolve},
		{"resolve without why", resolve("open", " "), "open", nil, review.ErrInvalid, review.KickOutOpen, 0, ""},
		{"resolve replayed", resolve("replayed", "why"), "replayed", nil, review.ErrConflict, review.KickOutReplayed, 0, ""},
		{"approve pending", approve("pending"), "rv:pending", nil, nil, review.ReviewApproved, 1, review.AuditApprove},
		{"approve approved", approve("approved"), "rv:approved", nil, review.ErrConflict, review.ReviewApproved, 0, ""},
		{"approve rejected", approve("rejected"), "rv:rejected", nil, review.ErrConflict, review.ReviewRejected, 0, ""},
		{"approve when the send fails", approve("pending"), "rv:pending", errors.New("broker down"), nil, review.ReviewPending, 0, ""},
		{"reject pending", reject("pending", "not the donor"), "rv:pending", nil, nil, review.ReviewRejected, 0, review.AuditReject},
		{"reject without why", reject("pending", ""), "rv:pending", nil, review.ErrInvalid, review.ReviewPending, 0, ""},
		{"reject approved", reject("approved", "why"), "rv:approved", nil, review.ErrConflict, review.ReviewApproved, 0, ""},
		{"reject missing", reject("nope", "why"), "", nil, review.ErrNotFound, "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := &fakeProducer{fail: tc.failing}
			svc, store := seeded(t, p)
			before, _ := store.AuditLog(ctx, 0)
			err := tc.act(ctx, svc)
			switch {
			case tc.failing != nil && err == nil:
				t.Fatal("succeeded although the send failed")
			case tc.failing == nil && tc.wantErr == nil && err != nil:
				t.Fatalf("failed: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.item != "" {
				if got := status(t, store, tc.item); got != tc.wantStatus {
					t.Errorf("status %q, want %q", got, tc.wantStatus)
				}
			}
			if len(p.sent) != tc.sent {
				t.Errorf("%d records sent, want %d", len(p.sent), tc.sent)
			}
			after, _ := store.AuditLog(ctx, 0)
			switch {
			case tc.wantAudit == "" && len(after) != len(before):
				t.Errorf("audited %+v", after[0])
			case tc.wantAudit != "" && (len(after) != len(before)+1 || after[0].Action != tc.wantAudit || after[0].Who != "ann"):
				t.Errorf("audit %+v, want one %s by ann", after, tc.wantAudit)
			}
		})
	}
}

func replay(id string, edited *string) func(context.Context, *review.Service) error {
	return func(ctx context.Context, s *review.Service) error {
		_, err := s.Replay(ctx, id, "ann", edited)
		return err
	}
}

func resolve(id, why string) func(context.Context, *review.Service) error {
	return func(ctx context.Context, s *review.Service) error { return s.Resolve(ctx, id, "ann", why) }
}

func approve(id string) func(context.Context, *review.Service) error {
	return func(ctx context.Context, s *review.Service) error {
		_, err := s.Approve(ctx, id, "ann", "ok")
		return err
	}
}

func reject(id, why string) func(context.Context, *review.Service) error {
	return func(ctx context.Context, s *review.Service) error {
		_, err := s.Reject(ctx, id, "ann", why)
		return err
	}
}

func status(t *testing.T, store *reviewtest.Store, item string) string {
	t.Helper()
	ctx := context.Background()
	if id, ok := strings.CutPrefix(item, "rv:"); ok {
		r, err := store.Review(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	k, err := store.KickOut(ctx, item)
	if err != nil {
		t.Fatal(err)
	}
	return k.Status
}

func TestReplayClaimedElsewhereIsAConflict(t *testing.T) {
	ctx := context.Background()
	p := &fakeProducer{}
	svc, store := seeded(t, p)
	release, err := store.Claim(ctx, "ko", "open", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := svc.Replay(ctx, "open", "ann", nil); !errors.Is(err, review.ErrConflict) {
		t.Fatalf("replay of a claimed kick-out: %v, want a conflict", err)
	}
	if len(p.sent) != 0 {
		t.Fatal("a claimed kick-out was sent")
	}
}

func TestTransitionTable(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   review.Transition
		ok     bool
	}{
		{review.ReviewApproved, review.ApproveReview, true},
		{review.ReviewRejected, review.RejectReview, true},
		{review.ReviewPending, review.Transition{}, false},
		{"lost", review.Transition{}, false},
	} {
		got, err := review.DecisionTransition(tc.status)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("DecisionTransition(%q) = %+v, %v", tc.status, got, err)
		}
	}
	if review.ReplayTransition(review.ReplayInfo{Edited: true}) != review.FixResubmit ||
		review.ReplayTransition(review.ReplayInfo{}) != review.ReplayKickOut {
		t.Error("replay transitions")
	}
	for _, tr := range []review.Transition{review.ReplayKickOut, review.FixResubmit, review.ResolveKickOut} {
		if tr.From != review.KickOutOpen {
			t.Errorf("%s starts from %s, not open", tr.Action, tr.From)
		}
	}
	audit := review.ReplayAudit("ko-1", review.ReplayInfo{Who: "ann", Count: 2, Topic: "t", Partition: 1, Offset: 7,
		Edited: true, Value: []byte("x")})
	if audit.Action != review.AuditFixResubmit || audit.Target != "ko-1" ||
		audit.Detail != "replay #2 to t (partition 1, offset 7), edited payload (sha256 2d711642b726)" {
		t.Errorf("replay audit %+v", audit)
	}
	if a := review.DecisionAudit(review.ApproveReview, "rv-1", review.Decision{Why: "ok"}, "evt~approved"); a.Detail != "ok (sent on as evt~approved)" {
		t.Errorf("approval audit %+v", a)
	}
}
