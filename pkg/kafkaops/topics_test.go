package kafkaops

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/internal/testenv"
)

// A topic with configs of its own is created with them; the others with
// the broker's defaults; and a second call leaves existing topics alone.
func TestEnsureTopicsWithConfigs(t *testing.T) {
	brokers := testenv.RealKafka(t)
	ctx := testenv.Context(t, time.Minute)
	audit, plain := testenv.Unique("audit"), testenv.Unique("plain")
	retention, policy := "3600000", "compact,delete"
	configs := func(topic string) map[string]*string {
		if topic == audit {
			return map[string]*string{"retention.ms": &retention, "cleanup.policy": &policy}
		}
		return nil
	}
	for range 2 {
		if err := EnsureTopicsWith(ctx, brokers, []string{audit, plain}, 1, 1, configs); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	described, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, audit, plain)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, rc := range described {
		if rc.Err != nil {
			t.Fatal(rc.Err)
		}
		got[rc.Name] = map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				got[rc.Name][c.Key] = *c.Value
			}
		}
	}
	if got[audit]["retention.ms"] != retention || got[audit]["cleanup.policy"] != policy {
		t.Errorf("audit topic created with retention.ms=%s cleanup.policy=%s", got[audit]["retention.ms"], got[audit]["cleanup.policy"])
	}
	if got[plain]["cleanup.policy"] == policy || got[plain]["retention.ms"] == retention {
		t.Errorf("plain topic got the audit topic's configs: %v", got[plain])
	}
}
