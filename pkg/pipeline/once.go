package pipeline

import (
	"context"
	"fmt"
)

// Once is the "once per event" plan of one batch, the policy both stateful
// stages (matcher and router) keep so that redelivery never changes an
// answer: an event decided before is answered from its memo, and the same
// event twice in one batch is decided once, by its first copy.
type Once struct {
	// Memos holds, per item, the memo of its event (nil: none). Copies of
	// an event share the memo of their first copy.
	Memos [][]byte
	// First holds, per item, the index of the item that decides it: itself,
	// or the first earlier item of the same event.
	First []int
}

// Remembered reports whether item i's event was decided before.
func (o Once) Remembered(i int) bool { return o.Memos[i] != nil }

// Copy reports whether item i repeats an earlier item of the batch.
func (o Once) Copy(i int) bool { return o.First[i] != i }

// Fresh reports whether item i must be decided now: it is the first of its
// event in the batch and has no memo.
func (o Once) Fresh(i int) bool { return !o.Copy(i) && !o.Remembered(i) }

// PlanOnce plans a batch whose item i is event refs[i]. Items for which
// identified is false have no event identity: they are never remembered nor
// merged with another item. read returns the memos of distinct events in
// one round trip (nil where none); it is not called when no item is
// identified.
func PlanOnce[K comparable](ctx context.Context, refs []K, identified func(K) bool,
	read func(context.Context, []K) ([][]byte, error)) (Once, error) {
	o := Once{Memos: make([][]byte, len(refs)), First: make([]int, len(refs))}
	first := map[K]int{}
	var (
		distinct []K
		at       []int
	)
	for i, r := range refs {
		o.First[i] = i
		if !identified(r) {
			continue
		}
		if j, ok := first[r]; ok {
			o.First[i] = j
			continue
		}
		first[r] = i
		distinct = append(distinct, r)
		at = append(at, i)
	}
	if len(distinct) == 0 {
		return o, nil
	}
	memos, err := read(ctx, distinct)
	if err != nil {
		return Once{}, err
	}
	if len(memos) != len(distinct) {
		return Once{}, fmt.Errorf("memo store answered %d of %d events", len(memos), len(distinct))
	}
	for j, i := range at {
		o.Memos[i] = memos[j]
	}
	for i, f := range o.First {
		if f != i {
			o.Memos[i] = o.Memos[f]
		}
	}
	return o, nil
}
