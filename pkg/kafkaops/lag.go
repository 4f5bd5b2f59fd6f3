package kafkaops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupLag is one consumer group's state and its lag on every partition of
// its declared inputs that it is assigned or has committed on.
type GroupLag struct {
	Group   string
	State   string // Stable, Empty (nobody consumes), PreparingRebalance, Dead...
	Members int
	// Partitions are sorted by topic (in declared order), then partition.
	Partitions []PartitionLag
	// Err says why the group could not be described or its offsets fetched.
	Err error
}

// Total is the group's lag summed over the partitions whose lag is known.
func (g GroupLag) Total() int64 {
	var n int64
	for _, p := range g.Partitions {
		if p.Lag > 0 {
			n += p.Lag
		}
	}
	return n
}

// StateNotFound is the State of a group the brokers do not know: it never
// committed, or its offsets expired.
const StateNotFound = "NotFound"

// GroupLags returns each group's lag on its declared input topics, in the
// given order, with kadm's Lag: committed offsets against the partitions'
// end offsets (and log start offsets, for a partition with no commit yet).
// Topics a group reads but that are not among its inputs are left out. The
// error is for a request that failed as a whole (no broker, not
// authorised); a group that cannot be described carries its own Err.
func GroupLags(ctx context.Context, adm *kadm.Client, inputs []GroupInputs) ([]GroupLag, error) {
	groups := make([]string, 0, len(inputs))
	for _, in := range inputs {
		groups = append(groups, in.Group)
	}
	described, err := adm.Lag(ctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("consumer lag: %w", err)
	}
	out := make([]GroupLag, 0, len(inputs))
	for _, in := range inputs {
		d, ok := described[in.Group]
		if !ok {
			out = append(out, GroupLag{Group: in.Group, Err: fmt.Errorf("group %s: not described", in.Group)})
			continue
		}
		gl := GroupLag{Group: in.Group, State: d.State, Members: len(d.Members), Err: d.Error()}
		if errors.Is(gl.Err, kerr.GroupIDNotFound) {
			// Never started (or expired): no lag to report yet, not a failure.
			gl.State, gl.Err = StateNotFound, nil
		}
		for _, topic := range in.Topics {
			var parts []PartitionLag
			for p, m := range d.Lag[topic] {
				parts = append(parts, PartitionLag{Group: in.Group, Topic: topic, Partition: p,
					Committed: m.Commit.At, End: m.End.Offset, Lag: m.Lag, Err: m.Err})
			}
			slices.SortFunc(parts, func(a, b PartitionLag) int { return cmp.Compare(a.Partition, b.Partition) })
			gl.Partitions = append(gl.Partitions, parts...)
		}
		out = append(out, gl)
	}
	return out, nil
}

// Lags is GroupLags on a client of its own. opts are added to the
// client's (TLS, SASL).
func Lags(ctx context.Context, brokers []string, inputs []GroupInputs, opts ...kgo.Opt) ([]GroupLag, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	return GroupLags(ctx, kadm.NewClient(cl), inputs)
}

// WriteLagTable writes one line per group, topic and partition: the
// group's state and members, the committed and end offsets and the lag
// ("-" where unknown, with the reason at the end of the line).
func WriteLagTable(w io.Writer, lags []GroupLag) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tMEMBERS\tTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\t")
	for _, g := range lags {
		if g.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t-\t-\t-\t%v\n", g.Group, orDash(g.State), g.Members, g.Err)
			continue
		}
		if len(g.Partitions) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t-\t-\t-\tno commits and no assignment yet\n", g.Group, orDash(g.State), g.Members)
			continue
		}
		for _, p := range g.Partitions {
			committed, lag, why := "-", "-", ""
			if p.Committed >= 0 {
				committed = fmt.Sprint(p.Committed)
			}
			if p.Err != nil {
				why = p.Err.Error()
			} else {
				lag = fmt.Sprint(p.Lag)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%d\t%s\t%s\n", g.Group, orDash(g.State), g.Members, p.Topic, p.Partition, committed, p.End, lag, why)
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
