package kafkaops

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Diagnose describes why groups may be stuck on their inputs: each group's
// state and assignment, partitions whose last stable offset trails the high
// watermark (an open transaction holds read_committed readers back), the
// producers holding such transactions open and every transaction that is
// not finished. It is for failure reports and operators, so it returns what
// it could learn and notes what it could not, instead of failing. opts are
// added to the client's (TLS, SASL).
func Diagnose(ctx context.Context, brokers []string, inputs []GroupInputs, opts ...kgo.Opt) string {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Sprintf("kafka client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	var b strings.Builder
	var topics []string
	for _, in := range inputs {
		for _, t := range in.Topics {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
		groups, err := adm.DescribeGroups(ctx, in.Group)
		if err != nil {
			fmt.Fprintf(&b, "group %s: describe: %v\n", in.Group, err)
			continue
		}
		for _, g := range groups.Sorted() {
			fmt.Fprintf(&b, "group %s: state %s, %d members\n", g.Group, g.State, len(g.Members))
			for _, m := range g.Members {
				id := m.MemberID
				if m.InstanceID != nil {
					id = *m.InstanceID
				}
				var parts []string
				if a, ok := m.Assigned.AsConsumer(); ok {
					for _, t := range a.Topics {
						parts = append(parts, fmt.Sprintf("%s%v", t.Topic, t.Partitions))
					}
				}
				fmt.Fprintf(&b, "  member %s: %s\n", id, strings.Join(parts, " "))
			}
		}
	}

	high, herr := adm.ListEndOffsets(ctx, topics...)
	stable, serr := adm.ListCommittedOffsets(ctx, topics...)
	if herr != nil || serr != nil {
		fmt.Fprintf(&b, "offsets: %v %v\n", herr, serr)
	} else {
		high.Each(func(h kadm.ListedOffset) {
			if s, ok := stable.Lookup(h.Topic, h.Partition); ok && s.Offset < h.Offset {
				fmt.Fprintf(&b, "partition %s/%d: last stable offset %d < high watermark %d\n", h.Topic, h.Partition, s.Offset, h.Offset)
			}
		})
	}

	inputTopics := kadm.TopicsSet{}
	inputTopics.MergeTopics(topics)
	producers, err := adm.DescribeProducers(ctx, inputTopics)
	if err != nil {
		fmt.Fprintf(&b, "describe producers: %v\n", err)
	}
	for _, p := range producers.SortedProducers() {
		if p.CurrentTxnStartOffset >= 0 {
			fmt.Fprintf(&b, "open transaction on %s/%d: producer %d epoch %d from offset %d, last write %s ago\n",
				p.Topic, p.Partition, p.ProducerID, p.ProducerEpoch, p.CurrentTxnStartOffset,
				time.Since(time.UnixMilli(p.LastTimestamp)).Round(time.Second))
		}
	}

	txns, err := adm.DescribeTransactions(ctx)
	if err != nil {
		fmt.Fprintf(&b, "describe transactions: %v\n", err)
	}
	for _, t := range txns.Sorted() {
		switch t.State {
		case "Empty", "CompleteCommit", "CompleteAbort":
			continue
		}
		var parts []string
		t.Topics.EachPartitions(func(topic string, ps []int32) {
			parts = append(parts, fmt.Sprintf("%s%v", topic, ps))
		})
		fmt.Fprintf(&b, "transaction %s: %s, producer %d epoch %d, started %s ago, partitions %s\n",
			t.TxnID, t.State, t.ProducerID, t.ProducerEpoch,
			time.Since(time.UnixMilli(t.StartTimestamp)).Round(time.Second), strings.Join(parts, " "))
	}
	return b.String()
}
