package normalize

import (
	"sync"

	"github.com/contactsync/contactsync/pkg/contact"
)

// PhoneCache remembers Phone's answers. Parsing a number is most of what
// canonicalising a change costs (the parser runs regular expressions), and a
// stream carries the same numbers again and again (each event of a donor
// repeats her phone). Phone is a pure function, so a remembered answer is
// the answer. The cache holds a bounded number of numbers and starts afresh when
// full: no eviction bookkeeping on the hot path. Safe for concurrent use.
type PhoneCache struct {
	mu  sync.Mutex
	max int
	m   map[phoneQuery]phoneAnswer
}

type phoneQuery struct{ raw, region string }

type phoneAnswer struct {
	e164 string
	err  error
}

// NewPhoneCache returns a cache of at most size numbers (at least 1).
func NewPhoneCache(size int) *PhoneCache {
	return &PhoneCache{max: max(size, 1), m: map[phoneQuery]phoneAnswer{}}
}

// Phone is Phone(raw, defaultRegion), remembered.
func (c *PhoneCache) Phone(raw, defaultRegion string) (string, error) {
	q := phoneQuery{raw, defaultRegion}
	c.mu.Lock()
	a, ok := c.m[q]
	c.mu.Unlock()
	if ok {
		return a.e164, a.err
	}
	a.e164, a.err = Phone(raw, defaultRegion)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[q] = a
	c.mu.Unlock()
	return a.e164, a.err
}

// Canonical is the package's Canonical with phone numbers parsed through
// the cache.
func (c *PhoneCache) Canonical(values contact.Values, defaultRegion string) (contact.Values, []FieldError) {
	return canonical(values, defaultRegion, c.Phone)
}
