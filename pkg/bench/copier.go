package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/kafkaops"
)

// Copy is the reference: a pass-through transactional copier (the stages'
// GroupTransactSession, read_committed, no logic) of want records from
// topics to one output topic, polling poll records per transaction. The
// clock runs from the first records polled to the last commit.
func Copy(ctx context.Context, brokers, topics []string, group string, poll, want int) (Rate, error) {
	out := group + ".out"
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return Rate{}, err
	}
	defer admCl.Close()
	if _, err := kadm.NewClient(admCl).CreateTopic(ctx, 3, -1, nil, out); err != nil {
		return Rate{}, fmt.Errorf("create %s: %w", out, err)
	}
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(brokers...),
		kgo.TransactionalID(group),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic(out),
	)
	if err != nil {
		return Rate{}, err
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var (
		copied int
		first  time.Time
	)
	for copied < want {
		fetches := sess.PollRecords(ctx, poll)
		if ctx.Err() != nil {
			return Rate{}, fmt.Errorf("copier at %d of %d: %w", copied, want, ctx.Err())
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			continue
		}
		if first.IsZero() {
			first = time.Now()
		}
		if err := sess.Begin(); err != nil {
			return Rate{}, err
		}
		for _, r := range recs {
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
		}
		if err := sess.Client().Flush(ctx); err != nil {
			return Rate{}, err
		}
		ok, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return Rate{}, err
		}
		if ok {
			copied += len(recs)
		}
	}
	return Rate{Name: fmt.Sprintf("copier poll %d", poll), Records: copied, Elapsed: time.Since(first)}, nil
}

// latency offers gifts of known donors at rate per second for dur and
// returns each gift's time from produce to its record at the offline sink
// (read_committed), sorted.
func latency(ctx context.Context, s *scenario, prod *kgo.Client, rows []map[string]any, rate int, dur time.Duration) ([]time.Duration, error) {
	sink := s.cfg.Topics.Sink(s.cfg.OfflineSystem)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.o.Brokers...))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, sink)
	cl.Close()
	if err != nil {
		return nil, err
	}
	at := map[string]map[int32]kgo.Offset{sink: {}}
	ends.Each(func(o kadm.ListedOffset) { at[sink][o.Partition] = kgo.NewOffset().At(o.Offset) })
	cons, err := kgo.NewClient(kgo.SeedBrokers(s.o.Brokers...), kgo.ConsumePartitions(at),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(20*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cons.Close()

	n := rate * int(dur.Seconds())
	sent := make(map[string]time.Time, n)
	sentc := make(chan [2]any, n)
	go func() {
		start := time.Now()
		for i := 0; i < n; i++ {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d) // pacing the offered rate, not synchronisation
			}
			ev := giftEvent(rows[i%len(rows)], i)
			sentc <- [2]any{fmt.Sprintf("lat-g-%07d", i), time.Now()}
			prod.Produce(ctx, &kgo.Record{Topic: s.cfg.Topics.OnlineEvents, Key: ev.Key, Value: ev.Value}, nil)
		}
	}()
	var lat []time.Duration
	got := map[string]bool{}
	lastNew := time.Now().Add(dur)
	for len(got) < n {
		// A gift whose donor the matcher could not tell apart goes to
		// review, not to the sink: once the sink is quiet, every gift
		// still missing must be in the review or kick-out topic.
		if len(sent) == n && time.Since(lastNew) > 15*time.Second {
			if err := elsewhere(ctx, s, sent, got); err != nil {
				return nil, err
			}
			break
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cons.PollFetches(pctx)
		cancel()
		now := time.Now()
		for drained := false; !drained; {
			select {
			case x := <-sentc:
				sent[x[0].(string)] = x[1].(time.Time)
			default:
				drained = true
			}
		}
		for _, r := range fetches.Records() {
			sr, err := s.app.Codec().DecodeSink(r.Value)
			if err != nil || sr.Gift == nil {
				continue
			}
			t0, ok := sent[sr.Gift.GiftID]
			if !ok || got[sr.Gift.GiftID] {
				continue
			}
			got[sr.Gift.GiftID] = true
			lat = append(lat, now.Sub(t0))
			lastNew = now
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, nil
}

func commandOutput(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

// elsewhere checks that every sent gift not in got is named by a record of
// the review or kick-out topic.
func elsewhere(ctx context.Context, s *scenario, sent map[string]time.Time, got map[string]bool) error {
	var values [][]byte
	for _, topic := range []string{s.cfg.Topics.Review, s.cfg.Topics.KickOuts} {
		recs, err := kafkaops.ReadTopic(ctx, s.o.Brokers, topic)
		if err != nil {
			return err
		}
		for _, r := range recs {
			values = append(values, r.Value)
		}
	}
	missing := 0
	for id := range sent {
		if got[id] {
			continue
		}
		found := false
		for _, v := range values {
			if bytes.Contains(v, []byte(id)) {
				found = true
				break
			}
		}
		if !found {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d of %d gifts reached neither the sink nor review nor kick-outs", missing, len(sent))
	}
	s.o.Logf("latency: %d of %d gifts went to review or kick-outs (not timed)", len(sent)-len(got), len(sent))
	return nil
}
