package review_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/review"
)

// TestListLimitsAreCapped: a request for a huge page gets the documented
// maximum, so one request cannot make the store read everything it holds.
func TestListLimitsAreCapped(t *testing.T) {
	ctx := context.Background()
	svc, store := seeded(t, &fakeProducer{})
	var kos []contact.KickOut
	var rvs []contact.ReviewItem
	for i := range review.MaxLimit + 10 {
		kos = append(kos, contact.KickOut{ID: fmt.Sprintf("ko-%04d", i), Stage: "ingest", Reason: "decode.json",
			Topic: "elsewhere", FirstSeen: t0.Add(time.Duration(i) * time.Second)})
		rvs = append(rvs, contact.ReviewItem{ID: fmt.Sprintf("rv-%04d", i), Created: t0})
	}
	for i := range review.MaxAuditLimit + 10 {
		store.AddAudit(review.AuditEntry{ID: fmt.Sprint(i), At: t0, Who: "ann", Action: review.AuditResolve})
	}
	if err := store.SaveKickOuts(ctx, kos); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveReviews(ctx, rvs); err != nil {
		t.Fatal(err)
	}
	const huge = 1_000_000
	list, err := svc.List(ctx, review.Filter{Limit: huge})
	if err != nil || len(list.Items) != review.MaxLimit || list.Limit != review.MaxLimit {
		t.Errorf("list with limit %d: %d items, limit %d, %v; want %d", huge, len(list.Items), list.Limit, err, review.MaxLimit)
	}
	if list, _ := svc.List(ctx, review.Filter{}); len(list.Items) != review.DefaultLimit {
		t.Errorf("list without limit: %d items, want %d", len(list.Items), review.DefaultLimit)
	}
	reviews, err := svc.Reviews(ctx, "", huge)
	if err != nil || len(reviews) != review.MaxLimit {
		t.Errorf("reviews with limit %d: %d items, %v; want %d", huge, len(reviews), err, review.MaxLimit)
	}
	audit, err := svc.Audit(ctx, huge)
	if err != nil || len(audit) != review.MaxAuditLimit {
		t.Errorf("audit with limit %d: %d entries, %v; want %d", huge, len(audit), err, review.MaxAuditLimit)
	}
}
