package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/review"
)

// Review returns one review item, or review.ErrNotFound.
func (q *Queue) Review(ctx context.Context, id string) (review.StoredReview, error) {
	h, err := q.rdb.HGetAll(ctx, q.k.rvKey(id)).Result()
	if err != nil {
		return review.StoredReview{}, fmt.Errorf("read review item %s: %w", id, err)
	}
	if len(h) == 0 {
		return review.StoredReview{}, fmt.Errorf("review item %s: %w", id, review.ErrNotFound)
	}
	return q.storedReview(id, h)
}

func (q *Queue) storedReview(id string, h map[string]string) (review.StoredReview, error) {
	it, err := q.codec.DecodeReview([]byte(h["avro"]))
	if err != nil {
		return review.StoredReview{}, fmt.Errorf("decode review item %s: %w", id, err)
	}
	r := review.StoredReview{ReviewItem: it, Status: h["status"], EmittedEventID: h["emitted"]}
	if h["decided_at"] != "" {
		r.Decision = &review.Decision{Who: h["decided_by"], At: msTime(h["decided_at"]), Why: h["decided_why"]}
	}
	return r, nil
}

// ListReviews returns up to limit review items with status ("" for all),
// newest first.
func (q *Queue) ListReviews(ctx context.Context, status string, limit int) ([]review.StoredReview, error) {
	index := q.k.rvAll()
	if status != "" {
		index = q.k.rvStatus(status)
	}
	if limit <= 0 {
		limit = review.DefaultReviewLimit
	}
	limit = min(limit, review.MaxLimit)
	ids, err := q.rdb.ZRevRange(ctx, index, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list review items: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, q.k.rvKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read review items: %w", err)
	}
	out := make([]review.StoredReview, 0, len(ids))
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue
		}
		r, err := q.storedReview(id, h)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Reviews returns up to limit review items, newest first, with their status.
func (q *Queue) Reviews(ctx context.Context, limit int64) ([]contact.ReviewItem, []string, error) {
	list, err := q.ListReviews(ctx, "", int(limit))
	if err != nil {
		return nil, nil, err
	}
	items := make([]contact.ReviewItem, len(list))
	statuses := make([]string, len(list))
	for i, r := range list {
		items[i], statuses[i] = r.ReviewItem, r.Status
	}
	return items, statuses, nil
}
