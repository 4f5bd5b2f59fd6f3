// Package redisstore keeps contactsync's state in Redis: the identity index
// (crosswalk and blocking keys), each person's golden state, and the
// kick-out/review store. Every key carries a hash tag, and operations that
// must be atomic touch keys of one tag only, so a Redis Cluster can hold it.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline/matcher"
)

// ExactResolver is the first identity index: it links records that share an
// exact normalised email, phone, or family name + given name + postcode.
type ExactResolver struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewExactResolver returns a resolver on rdb.
func NewExactResolver(rdb redis.UniversalClient, keys Keys) *ExactResolver {
	return &ExactResolver{rdb: rdb, keys: keys}
}

var _ matcher.Resolver = (*ExactResolver)(nil)

// Resolve implements matcher.Resolver.
func (r *ExactResolver) Resolve(ctx context.Context, changes []contact.Change) ([]matcher.Resolution, error) {
	out := make([]matcher.Resolution, len(changes))
	for i, c := range changes {
		res, err := r.resolveOne(ctx, c)
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

func (r *ExactResolver) resolveOne(ctx context.Context, c contact.Change) (matcher.Resolution, error) {
	xw := r.keys.Crosswalk(c.SourceSystem, c.SourceRecordID)
	pid, err := r.rdb.Get(ctx, xw).Result()
	switch {
	case err == nil:
		return r.finish(ctx, c, contact.Match{PersonID: pid, Decision: contact.DecisionKnown,
			Explanation: "record already linked"}, false)
	case !errors.Is(err, redis.Nil):
		return matcher.Resolution{}, fmt.Errorf("read crosswalk: %w", err)
	}

	blocking := exactKeys(c.Values)
	candidates := map[string][]string{} // person -> keys that hit
	for _, k := range blocking {
		members, err := r.rdb.SMembers(ctx, r.keys.Block(k)).Result()
		if err != nil {
			return matcher.Resolution{}, fmt.Errorf("read blocking key: %w", err)
		}
		for _, m := range members {
			candidates[m] = append(candidates[m], strings.SplitN(k, ":", 2)[0])
		}
	}
	persons := make([]string, 0, len(candidates))
	for p := range candidates {
		persons = append(persons, p)
	}
	sort.Strings(persons)
	switch len(persons) {
	case 0:
		pid = NewPersonID(c.SourceSystem, c.SourceRecordID)
		return r.finish(ctx, c, contact.Match{PersonID: pid, Decision: contact.DecisionNew, Score: 0,
			Explanation: "no record shares an exact email, phone or name+postcode"}, true)
	case 1:
		return r.finish(ctx, c, contact.Match{PersonID: persons[0], Decision: contact.DecisionLinked, Score: 1,
			Candidates: persons, Explanation: "exact " + strings.Join(candidates[persons[0]], "+")}, true)
	default:
		return matcher.Resolution{Match: contact.Match{Decision: contact.DecisionAmbiguous, Candidates: persons,
			Explanation: fmt.Sprintf("exact keys point to %d different persons", len(persons))}}, nil
	}
}

// finish records the link (when link is set) and reads the person's links.
func (r *ExactResolver) finish(ctx context.Context, c contact.Change, m contact.Match, link bool) (matcher.Resolution, error) {
	if link {
		// SET NX: if another worker linked this record meanwhile, its
		// answer wins and is used, so a record never has two persons.
		won, err := r.rdb.SetNX(ctx, r.keys.Crosswalk(c.SourceSystem, c.SourceRecordID), m.PersonID, 0).Result()
		if err != nil {
			return matcher.Resolution{}, fmt.Errorf("write crosswalk: %w", err)
		}
		if !won {
			pid, err := r.rdb.Get(ctx, r.keys.Crosswalk(c.SourceSystem, c.SourceRecordID)).Result()
			if err != nil {
				return matcher.Resolution{}, fmt.Errorf("read crosswalk: %w", err)
			}
			m = contact.Match{PersonID: pid, Decision: contact.DecisionKnown, Explanation: "linked concurrently"}
		}
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.keys.Links(m.PersonID), c.SourceSystem, c.SourceRecordID)
		for _, k := range exactKeys(c.Values) {
			p.SAdd(ctx, r.keys.Block(k), m.PersonID)
		}
		return nil
	})
	if err != nil {
		return matcher.Resolution{}, fmt.Errorf("index person: %w", err)
	}
	links, err := r.rdb.HGetAll(ctx, r.keys.Links(m.PersonID)).Result()
	if err != nil {
		return matcher.Resolution{}, fmt.Errorf("read links: %w", err)
	}
	return matcher.Resolution{Match: m, Links: links}, nil
}

// NewPersonID derives a person id from the record that created the person,
// so that redoing the same creation after a crash yields the same id.
func NewPersonID(system, recordID string) string {
	sum := sha256.Sum256([]byte(system + "\x00" + recordID))
	return "p-" + hex.EncodeToString(sum[:8])
}

func exactKeys(v contact.Values) []string {
	var keys []string
	if e := strings.ToLower(strings.TrimSpace(v[contact.Email])); e != "" {
		keys = append(keys, "email:"+e)
	}
	if p := strings.TrimSpace(v[contact.Phone]); p != "" {
		keys = append(keys, "phone:"+p)
	}
	fam, giv, pc := strings.ToLower(v[contact.FamilyName]), strings.ToLower(v[contact.GivenName]), strings.ToLower(v[contact.Postcode])
	if fam != "" && giv != "" && pc != "" {
		keys = append(keys, "npc:"+fam+"|"+giv+"|"+pc)
	}
	return keys
}
