package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/contactsync/contactsync/pkg/review"
)

// The audit log is a Redis stream capped near WithAuditLength entries; the
// review decides what an entry says, the move script appends it.

// auditStreamFields are the stream fields of an audit entry.
func auditStreamFields(e review.AuditEntry) []string {
	return []string{"at", strconv.FormatInt(e.At.UnixMilli(), 10), "who", e.Who,
		"action", e.Action, "target", e.Target, "detail", e.Detail}
}

// AuditLog returns up to limit audit entries, newest first (limit at most
// review.MaxAuditLimit).
func (q *Queue) AuditLog(ctx context.Context, limit int) ([]review.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, review.MaxAuditLimit)
	msgs, err := q.rdb.XRevRangeN(ctx, q.k.auditKey(), "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]review.AuditEntry, len(msgs))
	for i, m := range msgs {
		str := func(k string) string { s, _ := m.Values[k].(string); return s }
		out[i] = review.AuditEntry{ID: m.ID, At: msTime(str("at")), Who: str("who"), Action: str("action"),
			Target: str("target"), Detail: str("detail")}
	}
	return out, nil
}
