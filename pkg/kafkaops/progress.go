package kafkaops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupInputs is one consumer group and the topics it consumes.
type GroupInputs struct {
	Group  string
	Topics []string
}

// Lag is how far a set of groups is from the end of their inputs.
type Lag struct {
	Total int64
	// Partitions lists every partition with work left, in pipeline order.
	Partitions []PartitionLag
}

// PartitionLag is one group's position on one input partition.
type PartitionLag struct {
	Group, Topic string
	Partition    int32
	// Committed is -1 when the group has committed nothing there yet.
	Committed, End int64
	// Lag is how many records the group has not committed past (End -
	// Committed, or End - log start when nothing is committed); -1 when
	// Err says why it is unknown.
	Lag int64
	Err error
}

// String names the partitions with work left, for diagnostics.
func (l Lag) String() string {
	const show = 12
	parts := make([]string, 0, min(len(l.Partitions), show))
	for _, p := range l.Partitions[:min(len(l.Partitions), show)] {
		parts = append(parts, fmt.Sprintf("%s %s/%d: %d (committed %d, end %d)", p.Group, p.Topic, p.Partition, p.End-p.Committed, p.Committed, p.End))
	}
	more := ""
	if len(l.Partitions) > show {
		more = fmt.Sprintf(" (+%d more)", len(l.Partitions)-show)
	}
	return fmt.Sprintf("%d records behind [%s]%s", l.Total, strings.Join(parts, "; "), more)
}

// Behind returns how many records the groups have not yet committed past,
// summed over every partition of their input topics. Groups are checked in
// the given (pipeline) order, so 0 means the whole pipeline is idle: every
// upstream output was committed before its downstream end offsets were read.
func Behind(ctx context.Context, adm *kadm.Client, inputs []GroupInputs) (Lag, error) {
	var lag Lag
	for _, in := range inputs {
		ends, err := adm.ListEndOffsets(ctx, in.Topics...)
		if err != nil {
			return Lag{}, fmt.Errorf("end offsets: %w", err)
		}
		if err := ends.Error(); err != nil {
			return Lag{}, fmt.Errorf("end offsets: %w", err)
		}
		committed, err := adm.FetchOffsets(ctx, in.Group)
		if err != nil {
			return Lag{}, fmt.Errorf("committed offsets of %s: %w", in.Group, err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := committed.Lookup(o.Topic, o.Partition)
			at := int64(0)
			if ok && c.Err == nil {
				at = c.At
			}
			if o.Offset > at {
				lag.Total += o.Offset - at
				lag.Partitions = append(lag.Partitions, PartitionLag{Group: in.Group, Topic: o.Topic, Partition: o.Partition, Committed: at, End: o.Offset, Lag: o.Offset - at})
			}
		})
	}
	return lag, nil
}

// pollTimeout bounds one Behind poll, so that a request stuck on a broker
// that went away costs one poll, not the caller's whole deadline.
const pollTimeout = 10 * time.Second

// WaitIdle polls until Behind is 0 or ctx ends. Its error says where the
// pipeline stood at its last successful poll. opts are added to the
// client's (TLS, SASL).
func WaitIdle(ctx context.Context, brokers []string, inputs []GroupInputs, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var (
		last    *Lag
		lastErr error
	)
	for {
		pollCtx, cancel := context.WithTimeout(ctx, pollTimeout)
		lag, err := Behind(pollCtx, adm, inputs)
		cancel()
		if err == nil && lag.Total == 0 {
			return nil
		}
		if err == nil {
			last = &lag
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			state := "no poll succeeded"
			if last != nil {
				state = "last poll: " + last.String()
			}
			return fmt.Errorf("pipeline not idle, %s: %w", state, errors.Join(ctx.Err(), lastErr))
		case <-tick.C:
		}
	}
}

// ReadTopic returns every committed record of topic, reading from the start
// to the end offsets listed when it begins. opts are added to the client's
// (TLS, SASL).
func ReadTopic(ctx context.Context, brokers []string, topic string, opts ...kgo.Opt) ([]*kgo.Record, error) {
	var out []*kgo.Record
	err := ScanTopic(ctx, brokers, topic, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	}, opts...)
	return out, err
}

// ScanTopic calls each for every committed record of topic, from the start
// to the end offsets listed when it begins, in offset order per partition,
// without keeping them: a long topic is read in constant memory. An error
// from each stops the scan and is returned.
func ScanTopic(ctx context.Context, brokers []string, topic string, each func(*kgo.Record) error, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		fs.EachError(func(_ string, _ int32, ferr error) { err = ferr })
		if err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		var stop error
		fs.EachRecord(func(r *kgo.Record) {
			if stop != nil {
				return
			}
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if !r.Attrs.IsControl() {
				stop = each(r)
			}
		})
		if stop != nil {
			return stop
		}
	}
	return nil
}
