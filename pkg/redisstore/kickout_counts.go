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

// Counts for the overview: per stage and reason, and per day.

// GroupCounts counts the kick-outs per stage and reason that happened in
// [from, to) (zero: open-ended), most open first.
func (q *Queue) GroupCounts(ctx context.Context, from, to time.Time) ([]review.GroupCount, error) {
	groups, _, err := q.registries(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi := scoreRange(from, to)
	cmds := make([][]*redis.IntCmd, len(groups))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range groups {
			stage, reason := splitGroup(g)
			for _, st := range review.KickOutStatuses {
				cmds[i] = append(cmds[i], p.ZCount(ctx, q.k.ixGroup(st, stage, reason), lo, hi))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count kick-outs: %w", err)
	}
	var out []review.GroupCount
	for i, g := range groups {
		stage, reason := splitGroup(g)
		c := review.GroupCount{Stage: stage, Reason: reason,
			Open: cmds[i][0].Val(), Replayed: cmds[i][1].Val(), Resolved: cmds[i][2].Val()}
		c.Total = c.Open + c.Replayed + c.Resolved
		if c.Total > 0 {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Open != out[j].Open {
			return out[i].Open > out[j].Open
		}
		return out[i].Total > out[j].Total
	})
	return out, nil
}

func scoreRange(from, to time.Time) (lo, hi string) {
	lo, hi = "-inf", "+inf"
	if !from.IsZero() {
		lo = strconv.FormatInt(from.UnixMilli(), 10)
	}
	if !to.IsZero() {
		hi = "(" + strconv.FormatInt(to.UnixMilli(), 10)
	}
	return lo, hi
}

// DailyCounts counts kick-outs per UTC day from the day of from to the day
// of to, both included, by reason.
func (q *Queue) DailyCounts(ctx context.Context, from, to time.Time) ([]review.DayCount, error) {
	groups, _, err := q.registries(ctx)
	if err != nil {
		return nil, err
	}
	var reasons []string
	seen := map[string]bool{}
	for _, g := range groups {
		if _, r := splitGroup(g); !seen[r] {
			seen[r] = true
			reasons = append(reasons, r)
		}
	}
	sort.Strings(reasons)
	days := utcDays(from, to)
	cmds := make([][]*redis.IntCmd, len(days))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, d := range days {
			lo, hi := scoreRange(d, d.AddDate(0, 0, 1))
			for _, r := range reasons {
				cmds[i] = append(cmds[i], p.ZCount(ctx, q.k.ixReason(r), lo, hi))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count kick-outs per day: %w", err)
	}
	out := make([]review.DayCount, len(days))
	for i, d := range days {
		dc := review.DayCount{Day: d.Format("2006-01-02"), ByReason: map[string]int64{}}
		for j, r := range reasons {
			if n := cmds[i][j].Val(); n > 0 {
				dc.ByReason[r] = n
				dc.Total += n
			}
		}
		out[i] = dc
	}
	return out, nil
}

// maxDays bounds a daily chart.
const maxDays = 400

func utcDays(from, to time.Time) []time.Time {
	from, to = from.UTC(), to.UTC()
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	var out []time.Time
	for d := start; !d.After(to) && len(out) < maxDays; d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}

// ReasonCounts returns the number of kick-outs per reason.
func (q *Queue) ReasonCounts(ctx context.Context) (map[string]int64, error) {
	groups, err := q.GroupCounts(ctx, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, g := range groups {
		out[g.Reason] += g.Total
	}
	return out, nil
}

// Systems returns the systems kick-outs were seen from.
func (q *Queue) Systems(ctx context.Context) ([]string, error) {
	_, systems, err := q.registries(ctx)
	return systems, err
}
