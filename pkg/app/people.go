package app

import (
	"context"
	"fmt"

	"github.com/contactsync/contactsync/pkg/history"
	"github.com/contactsync/contactsync/pkg/redisstore"
	"github.com/contactsync/contactsync/pkg/rules"
)

// people serves the dashboard's person pages (dashboard.People): the field
// history from the audit topic, as `contactsync history` reads it, the
// person's links from the identity index and her household id from the
// router's golden state.
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

// HouseholdID implements dashboard.People.
func (p people) HouseholdID(ctx context.Context, personID string) (string, error) {
	states := redisstore.NewStateStore(p.a.rdb, redisstore.Keys{Prefix: p.a.cfg.RedisPrefix}, 0)
	stored, err := states.Load(ctx, []string{personID})
	if err != nil {
		return "", fmt.Errorf("read the state of %s: %w", personID, err)
	}
	st, err := rules.DecodeState(stored[personID].Data)
	if err != nil {
		return "", fmt.Errorf("state of %s: %w", personID, err)
	}
	return st.HouseholdID, nil
}
