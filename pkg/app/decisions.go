package app

import (
	"context"
	"fmt"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
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

// splitStore is review.SplitStore over the identity index, the person links
// and the router's golden states.
type splitStore struct {
	index     *redisstore.MatchIndex
	decisions *redisstore.DecisionStore
	states    *redisstore.StateStore
}

var _ review.SplitStore = splitStore{}

func (a *App) splitStore() splitStore {
	keys := redisstore.Keys{Prefix: a.cfg.RedisPrefix}
	return splitStore{index: redisstore.NewMatchIndex(a.rdb, keys), decisions: redisstore.NewDecisionStore(a.rdb, keys, 0),
		states: redisstore.NewStateStore(a.rdb, keys, 0)}
}

func (s splitStore) Members(ctx context.Context, personID string) ([]string, error) {
	return s.index.Members(ctx, personID)
}

func (s splitStore) Move(ctx context.Context, from, to string, recordIDs []string) error {
	return s.index.Move(ctx, from, to, recordIDs)
}

// Latest reads what the golden state keeps per record: each system's record
// id and the values that system last reported (rules.SystemState). The
// state keeps one record per system, so a second record of a system has no
// values here.
func (s splitStore) Latest(ctx context.Context, personID string) (map[string]review.RecordLatest, error) {
	stored, err := s.states.Load(ctx, []string{personID})
	if err != nil {
		return nil, err
	}
	st, err := rules.DecodeState(stored[personID].Data)
	if err != nil {
		return nil, fmt.Errorf("state of %s: %w", personID, err)
	}
	out := map[string]review.RecordLatest{}
	for sys, ss := range st.Systems {
		if ss == nil || ss.RecordID == "" {
			continue
		}
		id := matcher.RecordID(sys, ss.RecordID)
		l := review.RecordLatest{RecordID: id, SourceSystem: sys, SourceRecordID: ss.RecordID, Values: contact.Values{}}
		for f, v := range ss.LastSeen {
			if v != "" {
				l.Values[f] = v
			}
		}
		out[id] = l
	}
	return out, nil
}

func (s splitStore) Unlink(ctx context.Context, personID string, records []review.RecordLatest) error {
	links := map[string]string{}
	for _, r := range records {
		if r.SourceSystem != "" {
			links[r.SourceSystem] = r.SourceRecordID
		}
	}
	return s.decisions.Unlink(ctx, personID, links)
}

func (s splitStore) DropState(ctx context.Context, personID string) error {
	return s.states.Drop(ctx, personID)
}
