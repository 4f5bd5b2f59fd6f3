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
	return EnsureTopicsWith(ctx, brokers, topics, partitions, replication, nil, opts...)
}

// EnsureTopicsWith is EnsureTopics with per-topic configs: configs(topic)
// (nil, or a nil func: the broker's defaults) is what a missing topic is
// created with. Existing topics keep their configs.
func EnsureTopicsWith(ctx context.Context, brokers []string, topics []string, partitions int32, replication int16,
	configs func(topic string) map[string]*string, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var plain []string
	batches := [][]string{}
	for _, t := range topics {
		if configs != nil && len(configs(t)) > 0 {
			batches = append(batches, []string{t})
		} else {
			plain = append(plain, t)
		}
	}
	if len(plain) > 0 {
		batches = append(batches, plain)
	}
	var errs []error
	for _, batch := range batches {
		var cfg map[string]*string
		if configs != nil {
			cfg = configs(batch[0])
		}
		resp, err := adm.CreateTopics(ctx, partitions, replication, cfg, batch...)
		if err != nil {
			return fmt.Errorf("create topics: %w", err)
		}
		for _, t := range resp.Sorted() {
			if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
				errs = append(errs, fmt.Errorf("topic %s: %w", t.Topic, t.Err))
			}
		}
	}
	return errors.Join(errs...)
}
