package app

import (
	"context"
	"fmt"

	"github.com/contactsync/contactsync/pkg/history"
	"github.com/contactsync/contactsync/pkg/redisstore"
)

// people serves the dashboard's person pages (dashboard.People): the field
// history from the audit topic, as `contactsync history` reads it, and the
// person's links from the identity index.
type people struct{ a *App }

// History implements dashboard.People.
func (p people) History(ctx context.Context, personID string) (history.History, error) {
	return history.Read(ctx, p.a.AuditSource(), p.a.codec, personID)
}

// Links implements dashboard.People.
func (p people) Links(ctx context.Context, personID string) (map[string]string, error) {
	keys := redisstore.Keys{Prefix: p.a.cfg.RedisPrefix}
	links, err := p.a.rdb.HGetAll(ctx, keys.Links(personID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the links of %s: %w", personID, err)
	}
	return links, nil
}
