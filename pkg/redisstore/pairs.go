package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
	"github.com/contactsync/contactsync/pkg/review"
)

// PairStore keeps what people decided about records the matcher could not
// decide: per record (under the record's hash tag in the identity index) a
// hash with "must" -> the person it is, "not:<person>" -> each person it is
// not, and "note" -> the last "cannot tell", each with who decided, when
// and why; and "pending" -> the event whose match.ambiguous kick-out the
// record awaits a decision on (dropped by a same or different decision). It
// is the matcher's matcher.PairReader and the review's
// review.PairWriter; every decision is also appended to the review's audit
// log.
type PairStore struct {
	rdb      redis.UniversalClient
	keys     Keys
	audit    string
	auditLen int64
}

// NewPairStore returns the store on rdb.
func NewPairStore(rdb redis.UniversalClient, keys Keys) *PairStore {
	return &PairStore{rdb: rdb, keys: keys, audit: newQueueKeys(keys).auditKey(), auditLen: 100_000}
}

var (
	_ matcher.PairReader = (*PairStore)(nil)
	_ review.PairWriter  = (*PairStore)(nil)
)

const (
	pairMust    = "must"
	pairNot     = "not:"
	pairNote    = "note"
	pairMustWhy = "must:why"
	pairPending = "pending"
)

// settlePending drops a record's pending mark if it still names the event.
var settlePending = redis.NewScript(`if redis.call('HGET', KEYS[1], 'pending') == ARGV[1] then return redis.call('HDEL', KEYS[1], 'pending') end return 0`)

func (k Keys) recordPairs(recordID string) string { return k.tagged("mi:r", part(recordID), ":pairs") }

// Pairs implements matcher.PairReader in one round trip.
func (s *PairStore) Pairs(ctx context.Context, recordIDs []string) ([]matcher.Pairs, error) {
	out := make([]matcher.Pairs, len(recordIDs))
	if len(recordIDs) == 0 {
		return out, nil
	}
	p := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(recordIDs))
	for i, id := range recordIDs {
		cmds[i] = p.HGetAll(ctx, s.keys.recordPairs(id))
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read decided pairs: %w", err)
	}
	for i, c := range cmds {
		for f, v := range c.Val() {
			switch {
			case f == pairMust:
				out[i].MustLink = v
			case f == pairPending:
				out[i].Pending = v
			case strings.HasPrefix(f, pairNot):
				out[i].CannotLink = append(out[i].CannotLink, strings.TrimPrefix(f, pairNot))
			}
		}
		slices.Sort(out[i].CannotLink)
	}
	return out, nil
}

// AwaitDecisions implements matcher.PairReader in one round trip.
func (s *PairStore) AwaitDecisions(ctx context.Context, awaits []matcher.Await) error {
	if len(awaits) == 0 {
		return nil
	}
	p := s.rdb.Pipeline()
	for _, a := range awaits {
		key := s.keys.recordPairs(a.RecordID)
		if a.Settled {
			settlePending.Eval(ctx, p, []string{key}, a.EventID)
			continue
		}
		p.HSet(ctx, key, pairPending, a.EventID)
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("mark records awaiting a decision: %w", err)
	}
	return nil
}

// Decided implements review.PairWriter: the record's decisions as the
// dashboard shows them.
func (s *PairStore) Decided(ctx context.Context, recordID string) (review.RecordDecisions, error) {
	h, err := s.rdb.HGetAll(ctx, s.keys.recordPairs(recordID)).Result()
	if err != nil {
		return review.RecordDecisions{}, fmt.Errorf("read decisions of %s: %w", recordID, err)
	}
	out := review.RecordDecisions{RecordID: recordID, MustLink: h[pairMust], Pending: h[pairPending]}
	for f, v := range h {
		if f == pairMust || f == pairPending {
			continue
		}
		var d review.Decision
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return out, fmt.Errorf("decision %s of %s: %w", f, recordID, err)
		}
		switch {
		case f == pairMustWhy:
			out.MustLinkDecision = &d
		case f == pairNote:
			out.Note = &d
		case strings.HasPrefix(f, pairNot):
			out.CannotLink = append(out.CannotLink, review.PersonDecision{PersonID: strings.TrimPrefix(f, pairNot), Decision: d})
		}
	}
	slices.SortFunc(out.CannotLink, func(a, b review.PersonDecision) int { return strings.Compare(a.PersonID, b.PersonID) })
	return out, nil
}

// SavePairs implements review.PairWriter: it stores a decision about a
// record and appends it to the audit log. "same" replaces any must-link and
// drops a cannot-link to that person; "different" adds cannot-links (and
// drops a must-link to one of them); "note" keeps the note.
func (s *PairStore) SavePairs(ctx context.Context, d review.PairDecision) error {
	meta, err := json.Marshal(d.Decision)
	if err != nil {
		return fmt.Errorf("encode decision: %w", err)
	}
	key := s.keys.recordPairs(d.RecordID)
	var detail string
	switch d.Kind {
	case review.PairSame:
		if len(d.Persons) != 1 {
			return fmt.Errorf("a must-link names one person, not %d", len(d.Persons))
		}
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, pairMust, d.Persons[0], pairMustWhy, meta)
			p.HDel(ctx, key, pairNot+d.Persons[0], pairPending)
			return nil
		})
		detail = "must-link to " + d.Persons[0]
	case review.PairDifferent:
		if len(d.Persons) == 0 {
			return fmt.Errorf("a cannot-link names at least one person")
		}
		must, err := s.rdb.HGet(ctx, key, pairMust).Result()
		if err != nil && err != redis.Nil {
			return fmt.Errorf("read decisions of %s: %w", d.RecordID, err)
		}
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, person := range d.Persons {
				p.HSet(ctx, key, pairNot+person, meta)
			}
			if slices.Contains(d.Persons, must) {
				p.HDel(ctx, key, pairMust, pairMustWhy)
			}
			p.HDel(ctx, key, pairPending)
			return nil
		})
		if err != nil {
			return fmt.Errorf("save decision on %s: %w", d.RecordID, err)
		}
		detail = "cannot-link to " + strings.Join(d.Persons, ", ")
	case review.PairNote:
		err = s.rdb.HSet(ctx, key, pairNote, meta).Err()
		detail = "cannot tell: left open"
	default:
		return fmt.Errorf("unknown decision %q", d.Kind)
	}
	if err != nil {
		return fmt.Errorf("save decision on %s: %w", d.RecordID, err)
	}
	if d.Why != "" {
		detail += " (" + d.Why + ")"
	}
	if d.KickOutID != "" {
		detail += " [kick-out " + d.KickOutID + "]"
	}
	return s.appendAudit(ctx, review.AuditEntry{At: d.At, Who: d.Who, Action: "decide_" + string(d.Kind), Target: d.RecordID, Detail: detail})
}

// SavePersonPair implements review.PairWriter: persons a and b are not one
// person (the parts of a split), kept on both persons.
func (s *PairStore) SavePersonPair(ctx context.Context, a, b string, d review.Decision) error {
	meta, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode decision: %w", err)
	}
	for _, pr := range [][2]string{{a, b}, {b, a}} {
		if err := s.rdb.HSet(ctx, s.keys.personPairs(pr[0]), pairNot+pr[1], meta).Err(); err != nil {
			return fmt.Errorf("save pair %s / %s: %w", a, b, err)
		}
	}
	return nil
}

// PersonsApart implements review.PairWriter: the persons decided not to be
// personID.
func (s *PairStore) PersonsApart(ctx context.Context, personID string) ([]string, error) {
	h, err := s.rdb.HKeys(ctx, s.keys.personPairs(personID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read pairs of %s: %w", personID, err)
	}
	var out []string
	for _, f := range h {
		if p, ok := strings.CutPrefix(f, pairNot); ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (k Keys) personPairs(personID string) string { return k.tagged("p", part(personID), ":pairs") }

// Audit implements review.PairWriter.
func (s *PairStore) Audit(ctx context.Context, e review.AuditEntry) error {
	return s.appendAudit(ctx, e)
}

// appendAudit adds one entry to the review's audit log.
func (s *PairStore) appendAudit(ctx context.Context, e review.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	fields := auditStreamFields(e)
	vals := make([]any, len(fields))
	for i, f := range fields {
		vals[i] = f
	}
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.audit, MaxLen: s.auditLen, Approx: true, Values: vals}).Err()
	if err != nil {
		return fmt.Errorf("audit decision: %w", err)
	}
	return nil
}
