package redisstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/review"
)

// maybeTrim trims at most once a minute from the save path, so the indexes
// stay bounded even when nobody runs the dashboard.
func (q *Queue) maybeTrim(ctx context.Context) {
	now := q.now().UnixMilli()
	last := q.lastTrim.Load()
	if now-last < time.Minute.Milliseconds() || !q.lastTrim.CompareAndSwap(last, now) {
		return
	}
	// A failed trim is retried a minute later; it must not fail a save.
	_, _ = q.Trim(ctx)
}

// Trim drops index entries past the retention. The items themselves
// expire by their TTL at the same moment; trimming the sorted sets by
// score removes their index entries in one command per index.
func (q *Queue) Trim(ctx context.Context) (int64, error) {
	cutoff := "(" + strconv.FormatInt(q.now().Add(-q.retention).UnixMilli(), 10)
	indexes, err := q.allIndexes(ctx)
	if err != nil {
		return 0, err
	}
	cmds := make([]*redis.IntCmd, len(indexes))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range indexes {
			cmds[i] = p.ZRemRangeByScore(ctx, k, "-inf", cutoff)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("trim queue indexes: %w", err)
	}
	var removed int64
	for i, k := range indexes {
		if k == q.k.ixAll() || k == q.k.rvAll() {
			removed += cmds[i].Val()
		}
	}
	return removed, nil
}

// allIndexes lists every sorted-set index the queue may have written.
func (q *Queue) allIndexes(ctx context.Context) ([]string, error) {
	groups, systems, err := q.registries(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{q.k.ixAll(), q.k.rvAll()}
	for _, st := range review.KickOutStatuses {
		out = append(out, q.k.ixStatus(st))
	}
	for _, st := range review.ReviewStatuses {
		out = append(out, q.k.rvStatus(st))
	}
	reasons, stages := map[string]bool{}, map[string]bool{}
	for _, g := range groups {
		stage, reason := splitGroup(g)
		for _, st := range review.KickOutStatuses {
			out = append(out, q.k.ixGroup(st, stage, reason))
		}
		if !reasons[reason] {
			reasons[reason] = true
			out = append(out, q.k.ixReason(reason))
		}
		if !stages[stage] {
			stages[stage] = true
			out = append(out, q.k.ixStage(stage))
		}
	}
	for _, s := range systems {
		out = append(out, q.k.ixSystem(s))
	}
	return out, nil
}

func (q *Queue) registries(ctx context.Context) (groups, systems []string, err error) {
	var g, s *redis.StringSliceCmd
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		g = p.SMembers(ctx, q.k.groupsKey())
		s = p.SMembers(ctx, q.k.systemsKey())
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read queue registries: %w", err)
	}
	groups, systems = g.Val(), s.Val()
	sort.Strings(groups)
	sort.Strings(systems)
	return groups, systems, nil
}
