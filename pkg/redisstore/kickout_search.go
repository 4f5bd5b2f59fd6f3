package redisstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/review"
)

// Reading kick-outs: filtered lists, searches and single items.

// maxCandidates bounds how many index entries one list scans.
const maxCandidates = 100_000

type koMeta struct {
	id                            string
	status, reason, stage, system string
	seen                          int64
	replayedAs                    string
}

func (m koMeta) matches(f review.Filter) bool {
	return f.Matches(m.status, m.reason, m.stage, m.system, time.UnixMilli(m.seen))
}

// ListKickOuts returns one page of the kick-outs that match f (at most
// review.MaxLimit).
func (q *Queue) ListKickOuts(ctx context.Context, f review.Filter) (review.Page, error) {
	metas, err := q.matching(ctx, f)
	if err != nil {
		return review.Page{}, err
	}
	if f.Limit <= 0 {
		f.Limit = review.DefaultLimit
	}
	f.Limit = min(f.Limit, review.MaxLimit)
	page := review.Page{Total: len(metas)}
	lo := min(max(f.Offset, 0), len(metas))
	hi := min(lo+f.Limit, len(metas))
	ids := make([]string, 0, hi-lo)
	for _, m := range metas[lo:hi] {
		ids = append(ids, m.id)
	}
	page.Items, err = q.kickOutsByID(ctx, ids)
	return page, err
}

// MatchingKickOutIDs returns the ids of up to max kick-outs that match f
// (Offset and Limit are ignored), newest first, and how many match in all.
func (q *Queue) MatchingKickOutIDs(ctx context.Context, f review.Filter, limit int) ([]string, int, error) {
	metas, err := q.matching(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, 0, min(len(metas), limit))
	for _, m := range metas {
		if len(ids) == limit {
			break
		}
		ids = append(ids, m.id)
	}
	return ids, len(metas), nil
}

// matching returns the metadata of every kick-out that matches f, newest
// first. It reads the narrowest index, then filters on the small metadata
// fields; the Avro bodies are read only for the page shown.
func (q *Queue) matching(ctx context.Context, f review.Filter) ([]koMeta, error) {
	var ids []string
	if strings.TrimSpace(f.Query) != "" {
		var err error
		if ids, err = q.searchIDs(ctx, strings.TrimSpace(f.Query)); err != nil {
			return nil, err
		}
	} else {
		index := q.k.ixAll()
		switch {
		case f.Status != "" && f.Stage != "" && f.Reason != "":
			index = q.k.ixGroup(f.Status, f.Stage, f.Reason)
		case f.Reason != "":
			index = q.k.ixReason(f.Reason)
		case f.System != "":
			index = q.k.ixSystem(f.System)
		case f.Stage != "":
			index = q.k.ixStage(f.Stage)
		case f.Status != "":
			index = q.k.ixStatus(f.Status)
		}
		rng := &redis.ZRangeBy{Min: "-inf", Max: "+inf", Count: maxCandidates}
		if !f.From.IsZero() {
			rng.Min = strconv.FormatInt(f.From.UnixMilli(), 10)
		}
		if !f.To.IsZero() {
			rng.Max = "(" + strconv.FormatInt(f.To.UnixMilli(), 10)
		}
		var err error
		if ids, err = q.rdb.ZRevRangeByScore(ctx, index, rng).Result(); err != nil {
			return nil, fmt.Errorf("list kick-outs: %w", err)
		}
	}
	metas, err := q.metas(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := metas[:0]
	for _, m := range metas {
		if m.matches(f) {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].seen != out[j].seen {
			return out[i].seen > out[j].seen
		}
		return out[i].id > out[j].id
	})
	return out, nil
}

// searchIDs finds kick-outs by exact record id, person id, event id,
// kick-out id or email address.
func (q *Queue) searchIDs(ctx context.Context, query string) ([]string, error) {
	var keys []string
	if len(query) <= maxTermLen {
		keys = append(keys, q.k.termKey("rec", query), q.k.termKey("person", query), q.k.termKey("event", query))
	}
	keys = append(keys, q.k.termKey("email", EmailHash(query)))
	ids, err := q.rdb.SUnion(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("search kick-outs: %w", err)
	}
	n, err := q.rdb.Exists(ctx, q.k.koKey(query)).Result()
	if err != nil {
		return nil, fmt.Errorf("search kick-outs: %w", err)
	}
	if n == 1 {
		ids = append(ids, query)
	}
	sort.Strings(ids)
	return compactStrings(ids), nil
}

func compactStrings(xs []string) []string {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// metas reads the small fields of the items, skipping expired ones.
func (q *Queue) metas(ctx context.Context, ids []string) ([]koMeta, error) {
	out := make([]koMeta, 0, len(ids))
	const chunk = 1000
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		cmds := make([]*redis.SliceCmd, len(part))
		_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range part {
				cmds[i] = p.HMGet(ctx, q.k.koKey(id), "status", "reason", "stage", "system", "seen", "replayed_as")
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read kick-outs: %w", err)
		}
		for i, id := range part {
			v := cmds[i].Val()
			status, ok := v[0].(string)
			if !ok {
				continue // expired; its index entries go at the next trim
			}
			m := koMeta{id: id, status: status}
			m.reason, _ = v[1].(string)
			m.stage, _ = v[2].(string)
			m.system, _ = v[3].(string)
			seen, _ := v[4].(string)
			m.seen, _ = strconv.ParseInt(seen, 10, 64)
			m.replayedAs, _ = v[5].(string)
			out = append(out, m)
		}
	}
	return out, nil
}

func (q *Queue) kickOutsByID(ctx context.Context, ids []string) ([]review.StoredKickOut, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, q.k.koKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read kick-outs: %w", err)
	}
	out := make([]review.StoredKickOut, 0, len(ids))
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue
		}
		ko, err := q.storedKickOut(id, h)
		if err != nil {
			return nil, err
		}
		out = append(out, ko)
	}
	return out, nil
}

// KickOut returns one kick-out, or review.ErrNotFound.
func (q *Queue) KickOut(ctx context.Context, id string) (review.StoredKickOut, error) {
	h, err := q.rdb.HGetAll(ctx, q.k.koKey(id)).Result()
	if err != nil {
		return review.StoredKickOut{}, fmt.Errorf("read kick-out %s: %w", id, err)
	}
	if len(h) == 0 {
		return review.StoredKickOut{}, fmt.Errorf("kick-out %s: %w", id, review.ErrNotFound)
	}
	return q.storedKickOut(id, h)
}

func (q *Queue) storedKickOut(id string, h map[string]string) (review.StoredKickOut, error) {
	ko, err := q.codec.DecodeKickOut([]byte(h["avro"]))
	if err != nil {
		return review.StoredKickOut{}, fmt.Errorf("decode kick-out %s: %w", id, err)
	}
	s := review.StoredKickOut{
		KickOut:    ko,
		Status:     h["status"],
		System:     h["system"],
		RecordID:   h["record"],
		SavedAt:    msTime(h["saved"]),
		ReplayOf:   h["replay_of"],
		ReplayedAs: h["replayed_as"],
	}
	if h["replay_at"] != "" {
		r := &review.ReplayInfo{
			At:              msTime(h["replay_at"]),
			Who:             h["replay_by"],
			OriginalEventID: h["replay_original_event_id"],
			Format:          h["replay_format"],
			Topic:           h["replay_topic"],
			Edited:          h["replay_edited"] == "1",
		}
		r.Count, _ = strconv.Atoi(h["replay_count"])
		p, _ := strconv.ParseInt(h["replay_partition"], 10, 32)
		r.Partition = int32(p)
		r.Offset, _ = strconv.ParseInt(h["replay_offset"], 10, 64)
		if v, ok := h["replay_value"]; ok {
			r.Value = []byte(v)
		}
		s.Replay = r
	}
	if h["decided_at"] != "" {
		s.Resolution = &review.Decision{Who: h["decided_by"], At: msTime(h["decided_at"]), Why: h["decided_why"]}
	}
	return s, nil
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// KickOuts returns up to limit kick-outs, newest first.
func (q *Queue) KickOuts(ctx context.Context, limit int64) ([]contact.KickOut, error) {
	page, err := q.ListKickOuts(ctx, review.Filter{Limit: int(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]contact.KickOut, len(page.Items))
	for i, it := range page.Items {
		out[i] = it.KickOut
	}
	return out, nil
}

// CountKickOuts returns the number of stored kick-outs.
func (q *Queue) CountKickOuts(ctx context.Context) (int64, error) {
	n, err := q.rdb.ZCard(ctx, q.k.ixAll()).Result()
	if err != nil {
		return 0, fmt.Errorf("count kick-outs: %w", err)
	}
	return n, nil
}

// CountKickOutsByStatus returns the number of kick-outs with a status.
func (q *Queue) CountKickOutsByStatus(ctx context.Context, status string) (int64, error) {
	n, err := q.rdb.ZCard(ctx, q.k.ixStatus(status)).Result()
	if err != nil {
		return 0, fmt.Errorf("count %s kick-outs: %w", status, err)
	}
	return n, nil
}

// CountReviews returns the number of review items with a status.
func (q *Queue) CountReviews(ctx context.Context, status string) (int64, error) {
	n, err := q.rdb.ZCard(ctx, q.k.rvStatus(status)).Result()
	if err != nil {
		return 0, fmt.Errorf("count %s review items: %w", status, err)
	}
	return n, nil
}
