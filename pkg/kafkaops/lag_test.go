package kafkaops

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

// GroupLags reports, per declared input partition, what the group has not
// committed past; a topic the group committed on but does not declare is
// left out, and a partition without a commit counts from the log start.
func TestGroupLags(t *testing.T) {
	brokers := testenv.RealKafka(t)
	ctx := testenv.Context(t, 2*time.Minute)
	input, other, group := testenv.Unique("lag-in"), testenv.Unique("lag-other"), testenv.Unique("lag-group")
	if err := EnsureTopics(ctx, brokers, []string{input, other}, 2, 1); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 5 { // partition 0: 3 records, partition 1: 2
		recs = append(recs, &kgo.Record{Topic: input, Partition: int32(i % 2), Value: []byte("x")})
	}
	recs = append(recs, &kgo.Record{Topic: other, Partition: 0, Value: []byte("x")})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	var commit kadm.Offsets
	commit.Add(kadm.Offset{Topic: input, Partition: 0, At: 1, LeaderEpoch: -1})
	commit.Add(kadm.Offset{Topic: input, Partition: 1, At: 2, LeaderEpoch: -1})
	commit.Add(kadm.Offset{Topic: other, Partition: 0, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, group, commit); err != nil {
		t.Fatal(err)
	}

	lags, err := GroupLags(ctx, adm, []GroupInputs{{Group: group, Topics: []string{input}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lags) != 1 || lags[0].Err != nil || lags[0].State != "Empty" {
		t.Fatalf("lags = %+v, want one Empty group without error", lags)
	}
	got := lags[0].Partitions
	want := []PartitionLag{
		{Group: group, Topic: input, Partition: 0, Committed: 1, End: 3, Lag: 2},
		{Group: group, Topic: input, Partition: 1, Committed: 2, End: 2, Lag: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("partitions = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("partition %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if lags[0].Total() != 2 {
		t.Errorf("Total = %d, want 2", lags[0].Total())
	}

	absent, err := GroupLags(ctx, adm, []GroupInputs{{Group: group + "-never", Topics: []string{input}}})
	if err != nil || len(absent) != 1 || absent[0].Err != nil || len(absent[0].Partitions) != 0 {
		t.Errorf("group that never ran: %+v, %v; want no partitions and no error", absent, err)
	}

	var table bytes.Buffer
	if err := WriteLagTable(&table, lags); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "GROUP") || strings.Contains(table.String(), other) ||
		!strings.Contains(strings.Join(strings.Fields(lines[1]), " "), group+" Empty 0 "+input+" 0 1 3 2") {
		t.Errorf("table:\n%s", table.String())
	}
}
