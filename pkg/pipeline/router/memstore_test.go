package router_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/contactsync/contactsync/pkg/pipeline/router"
)

// memStore is an in-memory router.StateStore with the contract of the Redis
// one: a commit applies only on the version it was computed from, and its
// memos are written with its state.
type memStore struct {
	mu     sync.Mutex
	states map[string]router.StoredState
	memos  map[router.EventRef][]byte
	// reads and saves count Read and Save calls, failNextSave makes the
	// next save fail.
	reads, saves int
	failNextSave error
}

func newMemStore() *memStore {
	return &memStore{states: map[string]router.StoredState{}, memos: map[router.EventRef][]byte{}}
}

var _ router.StateStore = (*memStore)(nil)

func (s *memStore) Read(ctx context.Context, refs []router.EventRef, personIDs []string) ([][]byte, map[string]router.StoredState, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	memos, err := s.Memos(ctx, refs)
	if err != nil {
		return nil, nil, err
	}
	states, err := s.Load(ctx, personIDs)
	return memos, states, err
}

func (s *memStore) Memos(_ context.Context, refs []router.EventRef) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(refs))
	for i, r := range refs {
		out[i] = slices.Clone(s.memos[r])
	}
	return out, nil
}

func (s *memStore) Load(_ context.Context, personIDs []string) (map[string]router.StoredState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]router.StoredState, len(personIDs))
	for _, p := range personIDs {
		st := s.states[p]
		out[p] = router.StoredState{Data: slices.Clone(st.Data), Version: st.Version}
	}
	return out, nil
}

func (s *memStore) Save(_ context.Context, commits []router.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if err := s.failNextSave; err != nil {
		s.failNextSave = nil
		return err
	}
	var conflict error
	for _, c := range commits {
		cur := s.states[c.PersonID]
		if cur.Version != c.BaseVersion {
			conflict = fmt.Errorf("person %s: %w", c.PersonID, router.ErrStateConflict)
			continue
		}
		s.states[c.PersonID] = router.StoredState{Data: slices.Clone(c.State), Version: cur.Version + 1}
		for ev, m := range maps.All(c.Memos) {
			s.memos[router.EventRef{PersonID: c.PersonID, EventID: ev}] = slices.Clone(m)
		}
	}
	return conflict
}
