package clientauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/client"
	"eidp/internal/fetch"
)

// maxKeysInSet bounds how many keys of a fetched set are parsed.
const maxKeysInSet = 100

// freshKeys is the key set one refetch got for a client. It is kept beside
// the Fetcher's cache, which may still hold the older set, for freshTTL.
type freshKeys struct {
	uri     string
	keys    jose.JSONWebKeySet
	fetched time.Time
}

// freshTTL is how long a refetched set is used beside the cached one.
const freshTTL = fetch.DefaultCacheTTL

// ClientKeys returns c's public keys: its jwks metadata, or its jwks_uri
// fetched through the Fetcher, which caches it. When kid is not empty and
// not in the cached set, the client may have rotated its keys: ClientKeys
// then fetches jwks_uri again, past the cache, at most once per
// RefetchInterval per client. Keys that cannot be used are left out: those
// of an unknown type, with private or symmetric material, or RSA keys under
// 2048 bits. A client with no usable key gets an error.
func (a *Authenticator) ClientKeys(ctx context.Context, c client.Client, kid string) (jose.JSONWebKeySet, error) {
	if len(c.JWKS) > 0 {
		return parseKeySet(c.JWKS)
	}
	if c.JWKSURI == "" {
		return jose.JSONWebKeySet{}, errNoKeys
	}
	if a.opts.Fetcher == nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("clientauth: client %s has a jwks_uri but no fetcher is configured", c.ClientID)
	}
	var raw json.RawMessage
	if err := a.opts.Fetcher.GetJSON(ctx, c.JWKSURI, &raw); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("clientauth: jwks_uri of client %s: %w", c.ClientID, err)
	}
	cached, err := parseKeySet(raw)
	if err != nil && !errors.Is(err, errNoKeys) {
		return jose.JSONWebKeySet{}, fmt.Errorf("clientauth: jwks_uri of client %s: %w", c.ClientID, err)
	}

	sets := []jose.JSONWebKeySet{cached}
	if fresh, ok := a.freshSet(c); ok {
		sets = []jose.JSONWebKeySet{fresh, cached} // the newer first
	}
	if kid == "" {
		return nonEmpty(sets)
	}
	for _, s := range sets {
		if len(s.Key(kid)) > 0 {
			return s, nil
		}
	}
	if !a.mayRefetch(c.ClientID) {
		return nonEmpty(sets)
	}
	set, err := a.refetch(ctx, c)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return set, nil
}

// nonEmpty returns the first set with keys, or errNoKeys.
func nonEmpty(sets []jose.JSONWebKeySet) (jose.JSONWebKeySet, error) {
	for _, s := range sets {
		if len(s.Keys) > 0 {
			return s, nil
		}
	}
	return jose.JSONWebKeySet{}, errNoKeys
}

// freshSet returns the set a recent refetch got for c's current jwks_uri.
func (a *Authenticator) freshSet(c client.Client) (jose.JSONWebKeySet, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.fresh[c.ClientID]
	if !ok || f.uri != c.JWKSURI || a.now().Sub(f.fetched) >= freshTTL {
		return jose.JSONWebKeySet{}, false
	}
	return f.keys, true
}

// mayRefetch reports whether the client's jwks_uri may be refetched now,
// and if so takes the slot: a refetch counts whether it succeeds or not, so
// that a failing server is not asked at every request either.
func (a *Authenticator) mayRefetch(clientID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if last, ok := a.refetchedAt[clientID]; ok && now.Sub(last) < RefetchInterval {
		return false
	}
	if len(a.refetchedAt) >= 1024 { // forget slots that have passed
		for id, last := range a.refetchedAt {
			if now.Sub(last) >= RefetchInterval {
				delete(a.refetchedAt, id)
			}
		}
	}
	a.refetchedAt[clientID] = now
	return true
}

// refetch fetches c's jwks_uri past the Fetcher's cache.
//
// The Fetcher has no "skip the cache" call; its cache is keyed by URL and
// Accept, so each refetch asks with an Accept value of its own. The values
// differ only in the q-value of application/json (preferring
// application/jwk-set+json, RFC 7517 §8.5), which means the same to every
// server. A Fetcher.Refresh would be the cleaner way.
func (a *Authenticator) refetch(ctx context.Context, c client.Client) (jose.JSONWebKeySet, error) {
	a.mu.Lock()
	a.refetches++
	q := 1 + a.refetches%999
	a.mu.Unlock()
	accept := fmt.Sprintf("application/jwk-set+json, application/json;q=0.%03d", q)
	body, err := a.opts.Fetcher.Get(ctx, c.JWKSURI, accept)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("clientauth: jwks_uri of client %s: %w", c.ClientID, err)
	}
	set, err := parseKeySet(body)
	if err != nil && !errors.Is(err, errNoKeys) {
		return jose.JSONWebKeySet{}, fmt.Errorf("clientauth: jwks_uri of client %s: %w", c.ClientID, err)
	}
	a.mu.Lock()
	a.fresh[c.ClientID] = freshKeys{uri: c.JWKSURI, keys: set, fetched: a.now()}
	a.mu.Unlock()
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return set, nil
}

// errNotJWKSet: the document is not a JWK set.
var errNotJWKSet = errors.New("not a JWK set {\"keys\": [...]} (RFC 7517 §5)")

// parseKeySet reads a JWK set and keeps the usable public keys. Keys it
// cannot use are skipped rather than failing the set (RFC 7517 §5: ignore
// keys of unknown types), so that a client can publish, say, an encryption
// key beside its signing keys. A key with private or symmetric material is
// skipped too: a published private key is disclosed, and must not
// authenticate anyone.
func parseKeySet(raw []byte) (jose.JSONWebKeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return jose.JSONWebKeySet{}, errNotJWKSet
	}
	var set jose.JSONWebKeySet
	for _, rk := range doc.Keys[:min(len(doc.Keys), maxKeysInSet)] {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rk); err != nil {
			continue
		}
		if !k.Valid() || !k.IsPublic() {
			continue
		}
		set.Keys = append(set.Keys, k)
	}
	if len(set.Keys) == 0 {
		return jose.JSONWebKeySet{}, errNoKeys
	}
	return set, nil
}
