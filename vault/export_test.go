package vault

// CachedKey returns the cache's own slice holding the resident's data key —
// not a copy — or nil if none is cached. Tests only: it lets a test watch
// that very memory being zeroed when the key leaves the cache.
func CachedKey(v *Vault, residentID string) []byte {
	v.cache.mu.Lock()
	defer v.cache.mu.Unlock()
	if el, ok := v.cache.entries[residentID]; ok {
		return el.Value.(*cacheEntry).key
	}
	return nil
}

// OnEvict sets a function the cache calls with each key slice it evicts,
// after zeroing it.
func OnEvict(v *Vault, f func(key []byte)) {
	v.cache.mu.Lock()
	defer v.cache.mu.Unlock()
	v.cache.onEvict = f
}

// AttrAAD and WrapAAD are the associated-data encodings.
var (
	AttrAAD = attrAAD
	WrapAAD = wrapAAD
)
