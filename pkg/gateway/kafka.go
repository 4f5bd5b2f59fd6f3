package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaPublisher produces each event synchronously through an idempotent
// producer that waits for all in-sync replicas: when Publish returns nil the
// event is durably in Kafka.
type KafkaPublisher struct {
	client *kgo.Client
}

// NewKafkaPublisher connects to brokers. timeout bounds how long a record
// may wait for the broker (unreachable broker, no leader) before it fails;
// extra adds client options (TLS, SASL).
func NewKafkaPublisher(brokers []string, timeout time.Duration, extra ...kgo.Opt) (*KafkaPublisher, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // with idempotence, franz-go's default; stated because the 200 depends on it
		kgo.RecordDeliveryTimeout(timeout),
		kgo.ProduceRequestTimeout(timeout),
		kgo.ProducerLinger(0), // one webhook waits for its own record: do not hold it back for a batch
		kgo.ClientID("contactsync-gateway"),
	}, extra...)
	c, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &KafkaPublisher{client: c}, nil
}

// Publish implements Publisher.
func (p *KafkaPublisher) Publish(ctx context.Context, r *kgo.Record) error {
	if err := p.client.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", r.Topic, err)
	}
	return nil
}

// MissingTopics returns those of topics the cluster does not have.
func (p *KafkaPublisher) MissingTopics(ctx context.Context, topics []string) ([]string, error) {
	td, err := kadm.NewClient(p.client).ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var missing []string
	for _, t := range topics {
		// A topic just created may answer LEADER_NOT_AVAILABLE for a
		// moment: it exists; only an unknown topic is missing.
		if d, ok := td[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

// Ping reports whether a broker answers (for /readyz).
func (p *KafkaPublisher) Ping(ctx context.Context) error { return p.client.Ping(ctx) }

// Close flushes what is buffered (nothing once the HTTP server drained) and
// closes the client.
func (p *KafkaPublisher) Close() { p.client.Close() }
