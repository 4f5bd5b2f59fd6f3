package match

import (
	"sync"

	"github.com/contactsync/contactsync/pkg/contact"
)

// RecordCache builds Records like FromValues, remembering the parsed form of
// the phone numbers it has seen: parsing a number is most of FromValues'
// cost, and a stream sees the same donors' numbers again and again (ingest
// already made them canonical, so the parse only confirms them). The cache
// holds at most its size of numbers and starts afresh when full. Safe for
// concurrent use.
type RecordCache struct {
	mu     sync.Mutex
	size   int
	phones map[phoneKey]string
}

type phoneKey struct{ raw, country string }

// NewRecordCache returns a cache of at most size phone numbers (size <= 0:
// 65,536).
func NewRecordCache(size int) *RecordCache {
	if size <= 0 {
		size = 1 << 16
	}
	return &RecordCache{size: size, phones: make(map[phoneKey]string)}
}

// FromValues returns FromValues(v).
func (c *RecordCache) FromValues(v contact.Values) Record {
	return fromValues(v, c.phone)
}

func (c *RecordCache) phone(raw, country string) string {
	k := phoneKey{raw, country}
	c.mu.Lock()
	p, ok := c.phones[k]
	c.mu.Unlock()
	if ok {
		return p
	}
	p = phoneOrEmpty(raw, country)
	c.mu.Lock()
	if len(c.phones) >= c.size {
		clear(c.phones)
	}
	c.phones[k] = p
	c.mu.Unlock()
	return p
}
