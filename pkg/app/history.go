package app

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/history"
	"github.com/contactsync/contactsync/pkg/kafkaops"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

// auditSource reads the audit topic for pkg/history.
type auditSource struct {
	brokers []string
	topic   string
	opts    []kgo.Opt
}

// Scan implements history.Source.
func (s auditSource) Scan(ctx context.Context, each func(key, value []byte) error) error {
	return kafkaops.ScanTopic(ctx, s.brokers, s.topic, func(r *kgo.Record) error { return each(r.Key, r.Value) }, s.opts...)
}

// crosswalk resolves SYSTEM:RECORD to a person through the identity index.
type crosswalk struct{ idx *redisstore.MatchIndex }

// PersonOf implements history.Resolver.
func (c crosswalk) PersonOf(ctx context.Context, system, recordID string) (string, error) {
	return c.idx.PersonOf(ctx, matcher.RecordID(system, recordID))
}

// AuditSource reads the audit topic from the start (history.Source); the
// dashboard's person page can read through it too.
func (a *App) AuditSource() history.Source {
	return auditSource{brokers: a.cfg.KafkaBrokers, topic: a.topology.Topics.Audit, opts: a.KafkaOptions()}
}

// History returns the field history of who: a person id, or SYSTEM:RECORD
// resolved to its person through the Redis crosswalk.
func (a *App) History(ctx context.Context, who string) (history.History, error) {
	keys := redisstore.Keys{Prefix: a.cfg.RedisPrefix}
	person, err := history.PersonOf(ctx, crosswalk{idx: redisstore.NewMatchIndex(a.rdb, keys)}, a.Systems(), who)
	if err != nil {
		return history.History{}, err
	}
	return history.Read(ctx, a.AuditSource(), a.codec, person)
}
