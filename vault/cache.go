package vault

import (
	"container/list"
	"sync"
	"time"
)

// keyID identifies one data key of a resident: its version and its exact
// wrapping. The version alone is not enough: after an erasure, the
// resident's next data key starts again at version 1, and another process
// may still cache the shredded one. The wrapping (KEK, nonce, ciphertext)
// determines the key; a rewrap changes it, which costs a cache miss.
type keyID struct {
	version int64
	kekID   string
	wrapped string
}

// keyCache holds unwrapped data keys, at most one per resident, for a short
// time, least recently used first out. Every key that leaves it is
// overwritten with zeros. It hands out copies: a key in use by a caller is
// never zeroed under it.
type keyCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	size    int // < 0: caching disabled
	now     func() time.Time
	entries map[string]*list.Element // resident ID → *cacheEntry
	lru     *list.List               // *cacheEntry, front: most recently used
	byAge   *list.List               // *cacheEntry, front: oldest (expires first)
	timer   *time.Timer              // pending sweep, nil if none
	onEvict func(key []byte)         // tests: called with each zeroed key
}

type cacheEntry struct {
	resident string
	id       keyID
	key      []byte
	expires  time.Time
	lruEl    *list.Element
	ageEl    *list.Element
}

func newKeyCache(ttl time.Duration, size int, now func() time.Time) *keyCache {
	return &keyCache{ttl: ttl, size: size, now: now, entries: map[string]*list.Element{}, lru: list.New(), byAge: list.New()}
}

// current returns a copy of the resident's cached key and its ID.
func (c *keyCache) current(resident string) (keyID, []byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.lookup(resident)
	if e == nil {
		return keyID{}, nil, false
	}
	return e.id, clone(e.key), true
}

// get returns a copy of the resident's key id if it is cached.
func (c *keyCache) get(resident string, id keyID) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.lookup(resident)
	if e == nil || e.id != id {
		return nil, false
	}
	return clone(e.key), true
}

// lookup finds a live entry and marks it used; c.mu is held.
func (c *keyCache) lookup(resident string) *cacheEntry {
	c.sweepLocked()
	el, ok := c.entries[resident]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

// put caches a copy of key as the resident's key id, replacing (and
// zeroing) any other key of the resident. The caller keeps and zeroes its
// own key.
func (c *keyCache) put(resident string, id keyID, key []byte) {
	if c.size < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked()
	if el, ok := c.entries[resident]; ok {
		e := el.Value.(*cacheEntry)
		if e.id == id {
			c.lru.MoveToFront(el)
			return
		}
		c.removeLocked(el)
	}
	e := &cacheEntry{resident: resident, id: id, key: clone(key), expires: c.now().Add(c.ttl)}
	e.lruEl, e.ageEl = c.lru.PushFront(e), c.byAge.PushBack(e)
	c.entries[resident] = e.lruEl
	for c.lru.Len() > c.size {
		c.removeLocked(c.lru.Back())
	}
	if c.timer == nil {
		c.timer = time.AfterFunc(c.ttl, c.tick)
	}
}

// drop removes (and zeroes) the resident's key.
func (c *keyCache) drop(resident string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[resident]; ok {
		c.removeLocked(el)
	}
}

// tick is the periodic sweep, so that an idle process does not keep keys
// past their time; it stops when the cache is empty.
func (c *keyCache) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked()
	c.timer = nil
	if c.lru.Len() > 0 {
		c.timer = time.AfterFunc(c.ttl, c.tick)
	}
}

// sweepLocked removes the expired entries, oldest first, so that it costs
// nothing when none has expired; c.mu is held.
func (c *keyCache) sweepLocked() {
	now := c.now()
	for el := c.byAge.Front(); el != nil && !now.Before(el.Value.(*cacheEntry).expires); el = c.byAge.Front() {
		c.removeLocked(el.Value.(*cacheEntry).lruEl)
	}
}

// removeLocked removes the entry at lru element el and zeroes its key.
func (c *keyCache) removeLocked(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	c.byAge.Remove(e.ageEl)
	delete(c.entries, e.resident)
	clear(e.key)
	if c.onEvict != nil {
		c.onEvict(e.key)
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
