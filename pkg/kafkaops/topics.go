// Package kafkaops holds the Kafka chores shared by the CLI, the demo and the
// tests: creating topics, telling whether the pipeline is idle, and reading
// a topic back.
package kafkaops

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left as they are (their partition count is the operator's business).
// opts are added to the client's (TLS, SASL).
func EnsureTopics(ctx context.Context, brokers []string, topics []string, partitions int32, replication int16, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopics(ctx, partitions, replication, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for _, t := range resp.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("topic %s: %w", t.Topic, t.Err))
		}
	}
	return errors.Join(errs...)
}
