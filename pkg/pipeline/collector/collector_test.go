package collector_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/internal/testenv"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/collector"
	"github.com/contactsync/contactsync/pkg/redisstore"
	"github.com/contactsync/contactsync/pkg/review"
)

// TestCollectorRedoneBatchKeepsOneOfEach runs the same batch three times,
// as a collector does after a crash before its offsets were committed: the
// store keeps one kick-out and one review item, counted once, and a person's
// decision made in between is not undone.
func TestCollectorRedoneBatchKeepsOneOfEach(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	codec, err := avrocodec.New()
	if err != nil {
		t.Fatal(err)
	}
	topics := pipeline.DefaultTopics()
	q := redisstore.NewQueue(rdb, redisstore.Keys{Prefix: testenv.Unique("col")}, codec, 0)
	stage := collector.New(topics, codec, q, nil)
	ctx := testenv.Context(t, 30*time.Second)

	at := time.Now().UTC().Truncate(time.Second)
	in := &kgo.Record{Topic: topics.OnlineEvents, Offset: 7, Key: []byte("web-1"), Value: []byte(`{"contact":`), Timestamp: at}
	ko := pipeline.KickOutFrom("ingest", "decode.json", errString("unexpected end of JSON input"), in)
	koVal, err := codec.EncodeKickOut(ko)
	if err != nil {
		t.Fatal(err)
	}
	item := contact.ReviewItem{ID: "rv-1", PersonID: "p-1", TargetSystem: "offline", Reason: "self-service",
		Proposed: contact.Values{contact.FamilyName: "Smythe"},
		Change: contact.Change{EventID: "evt-1", SourceSystem: "online", SourceRecordID: "web-1",
			Origin: contact.OriginSelfService, Op: contact.OpUpsert, SourceTime: at}, Created: at}
	rvVal, err := codec.EncodeReview(item)
	if err != nil {
		t.Fatal(err)
	}
	batch := []*kgo.Record{
		{Topic: topics.KickOuts, Partition: 0, Offset: 1, Value: koVal, Timestamp: at},
		{Topic: topics.Review, Partition: 0, Offset: 1, Value: rvVal, Timestamp: at},
		// A record that is not a kick-out at all is kept as one of the collector.
		{Topic: topics.KickOuts, Partition: 0, Offset: 2, Value: []byte("garbage"), Timestamp: at},
	}
	for i := range 3 {
		out, err := stage.Process(ctx, batch)
		if err != nil || len(out) != 0 {
			t.Fatalf("Process: %v, %d outputs", err, len(out))
		}
		if i == 0 {
			if err := q.DecideReview(ctx, "rv-1", review.ReviewRejected,
				review.Decision{Who: "ann", At: at, Why: "not the donor"}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	counts, err := q.ReasonCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["decode.json"] != 1 || counts[pipeline.ReasonAvro] != 1 || len(counts) != 2 {
		t.Fatalf("reason counts %v, want one decode.json and one decode.avro", counts)
	}
	got, err := q.KickOut(ctx, ko.ID)
	if err != nil || string(got.Value) != `{"contact":` || got.Status != review.KickOutOpen {
		t.Fatalf("stored kick-out %+v, %v", got, err)
	}
	rv, err := q.Review(ctx, "rv-1")
	if err != nil || rv.Status != review.ReviewRejected || rv.Decision.Who != "ann" {
		t.Fatalf("review after redone batches: %+v, %v", rv, err)
	}
	if n, _ := q.CountReviews(ctx, review.ReviewPending); n != 0 {
		t.Fatalf("%d pending review items, want 0", n)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
