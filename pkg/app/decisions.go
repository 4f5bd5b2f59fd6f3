package app

import (
	"context"
	"fmt"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/redisstore"
	"github.com/contactsync/contactsync/pkg/review"
	"github.com/contactsync/contactsync/pkg/rules"
)

// pairStore keeps people's decisions on records (must-link, cannot-link)
// in the identity index.
func (a *App) pairStore() *redisstore.PairStore {
	return redisstore.NewPairStore(a.rdb, redisstore.Keys{Prefix: a.cfg.RedisPrefix})
}

// goldenReader is review.PersonReader over the router's stored states.
type goldenReader struct{ states *redisstore.StateStore }

var _ review.PersonReader = goldenReader{}

// Golden implements review.PersonReader: each person's golden values (nil
// for a person without a state).
func (g goldenReader) Golden(ctx context.Context, personIDs []string) ([]contact.Values, error) {
	stored, err := g.states.Load(ctx, personIDs)
	if err != nil {
		return nil, err
	}
	out := make([]contact.Values, len(personIDs))
	for i, id := range personIDs {
		data := stored[id].Data
		if len(data) == 0 {
			continue
		}
		st, err := rules.DecodeState(data)
		if err != nil {
			return nil, fmt.Errorf("state of %s: %w", id, err)
		}
		v := contact.Values{}
		for f, gv := range st.Golden {
			if !gv.Cleared && gv.Value != "" {
				v[f] = gv.Value
			}
		}
		out[i] = v
	}
	return out, nil
}
