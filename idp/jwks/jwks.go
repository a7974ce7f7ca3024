package jwks

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/hsm"
	"eidp/hsm/keyring"
)

// DefaultRefresh is how often a Set re-reads the keyring unless told otherwise.
const DefaultRefresh = 30 * time.Second

// ErrNoSigningKey means the role has no active key that signs with the
// requested algorithm.
var ErrNoSigningKey = errors.New("jwks: no active signing key for this algorithm")

// Options configure a Set. The zero value is the default.
type Options struct {
	// Refresh is how often the set re-reads the keyring (default
	// DefaultRefresh). It is also the max-age of the /jwks response. Keep
	// it well below keyring's PublishAhead.
	Refresh time.Duration
	// Role whose keys are published and sign (default keyring.OIDCSigning).
	Role keyring.Role
	// Now is the time source (default time.Now), for tests.
	Now func() time.Time
	// Log receives refresh failures (default slog.Default()).
	Log *slog.Logger
}

// Set is the published key set and the current signer of one role. It is
// safe for concurrent use.
type Set struct {
	ring    *keyring.Keyring
	km      hsm.KeyManager
	role    keyring.Role
	refresh time.Duration
	now     func() time.Time
	log     *slog.Logger

	snap atomic.Pointer[snapshot]

	mu      sync.Mutex // one load at a time; guards the caches below
	jwks    map[string]jose.JSONWebKey
	signers map[string]jose.OpaqueSigner
}

// snapshot is what one load of the keyring found.
type snapshot struct {
	checkedAt time.Time // last load attempt
	loadedAt  time.Time // last successful load
	set       jose.JSONWebKeySet
	body      []byte // set as JSON
	activeID  string // "" if the role has no active key
	signer    jose.OpaqueSigner
}

// New returns a Set over ring, whose keys live in km. Nothing is read until
// first use; call Refresh to fail early.
func New(ring *keyring.Keyring, km hsm.KeyManager, opts Options) *Set {
	s := &Set{
		ring: ring, km: km, role: opts.Role, refresh: opts.Refresh, now: opts.Now, log: opts.Log,
		jwks: map[string]jose.JSONWebKey{}, signers: map[string]jose.OpaqueSigner{},
	}
	if s.role == "" {
		s.role = keyring.OIDCSigning
	}
	if s.refresh <= 0 {
		s.refresh = DefaultRefresh
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// RefreshInterval is how often the set re-reads the keyring.
func (s *Set) RefreshInterval() time.Duration { return s.refresh }

// Published returns the public keys relying parties may verify with: the
// role's next, active and retiring keys, with "use" "sig" and the keyring
// key ID as "kid".
func (s *Set) Published(ctx context.Context) (jose.JSONWebKeySet, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return jose.JSONWebKeySet{Keys: slices.Clone(snap.set.Keys)}, nil
}

// Signer returns the signer of the role's active key for alg, and its key ID
// (the JWS "kid", which the signer's public JWK carries too). It returns
// ErrNoSigningKey if there is no active key or it cannot sign with alg (an
// EC key and RS256, say).
func (s *Set) Signer(ctx context.Context, alg jose.SignatureAlgorithm) (jose.OpaqueSigner, string, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return nil, "", err
	}
	if snap.signer == nil {
		return nil, "", fmt.Errorf("%w: role %s has no active key", ErrNoSigningKey, s.role)
	}
	if !slices.Contains(snap.signer.Algs(), alg) {
		return nil, "", fmt.Errorf("%w: %s key %s signs with %v, not %s", ErrNoSigningKey, s.role, snap.activeID, snap.signer.Algs(), alg)
	}
	return snap.signer, snap.activeID, nil
}

// SigningAlgorithms lists the JWS algorithms the active key signs with (for
// discovery's id_token_signing_alg_values_supported).
func (s *Set) SigningAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	snap, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	if snap.signer == nil {
		return nil, nil
	}
	return snap.signer.Algs(), nil
}

// Refresh re-reads the keyring now, making the transitions that are due.
func (s *Set) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.reload(ctx, s.snap.Load())
	return err
}

// ServeHTTP answers the jwks_uri: the published set as JSON, cacheable for
// the refresh interval.
func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	snap, err := s.current(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "jwks: cannot read the signing keys", "err", err)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "signing keys temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.refresh/time.Second)))
	h.Set("Content-Length", strconv.Itoa(len(snap.body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(snap.body)
}

// maxStale bounds how long a set is served from memory while the keyring
// cannot be read: a database hiccup does not stop signing or publishing, a
// long outage does.
func (s *Set) maxStale() time.Duration { return 10 * s.refresh }

// current returns a snapshot no older than the refresh interval, loading
// one if needed. While one caller loads, the others keep the previous
// snapshot rather than wait.
func (s *Set) current(ctx context.Context) (*snapshot, error) {
	snap := s.snap.Load()
	if snap != nil && s.now().Sub(snap.checkedAt) < s.refresh {
		return snap, nil
	}
	if snap != nil {
		if !s.mu.TryLock() {
			return snap, nil
		}
	} else {
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if cur := s.snap.Load(); cur != nil && s.now().Sub(cur.checkedAt) < s.refresh {
		return cur, nil // loaded while we waited
	}
	return s.reload(ctx, snap)
}

// reload reads the keyring and installs a new snapshot. On failure it keeps
// serving prev for up to maxStale. s.mu must be held.
func (s *Set) reload(ctx context.Context, prev *snapshot) (*snapshot, error) {
	now := s.now()
	snap, err := s.load(ctx, now)
	if err == nil {
		s.snap.Store(snap)
		return snap, nil
	}
	if prev != nil && now.Sub(prev.loadedAt) < s.maxStale() {
		s.log.WarnContext(ctx, "jwks: refresh failed; keeping the keys read earlier", "role", s.role,
			"read_at", prev.loadedAt, "err", err)
		kept := *prev
		kept.checkedAt = now
		s.snap.Store(&kept)
		return &kept, nil
	}
	return nil, err
}

// load builds a snapshot from the keyring. s.mu must be held.
func (s *Set) load(ctx context.Context, now time.Time) (*snapshot, error) {
	keys, err := s.ring.Published(ctx, s.role)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	snap := &snapshot{checkedAt: now, loadedAt: now, set: jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}}
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k.ID] = true
		jwk, ok := s.jwks[k.ID]
		if !ok {
			info, err := s.km.Key(ctx, k.URI)
			if err != nil {
				return nil, fmt.Errorf("jwks: %s key %s: %w", s.role, k.ID, err)
			}
			if jwk, err = publicJWK(k.ID, info.Public); err != nil {
				return nil, fmt.Errorf("jwks: %s key %s: %w", s.role, k.ID, err)
			}
			s.jwks[k.ID] = jwk
		}
		snap.set.Keys = append(snap.set.Keys, jwk)
		if k.State != keyring.Active {
			continue
		}
		signer, ok := s.signers[k.ID]
		if !ok {
			hs, err := s.km.Signer(ctx, k.URI)
			if err != nil {
				return nil, fmt.Errorf("jwks: %s key %s: %w", s.role, k.ID, err)
			}
			if signer, err = hsm.OpaqueSignerWithKeyID(hs, k.ID); err != nil {
				return nil, fmt.Errorf("jwks: %s key %s: %w", s.role, k.ID, err)
			}
			s.signers[k.ID] = signer
		}
		snap.activeID, snap.signer = k.ID, signer
	}
	// Forget keys that are no longer published.
	for id := range s.jwks {
		if !seen[id] {
			delete(s.jwks, id)
		}
	}
	for id := range s.signers {
		if !seen[id] {
			delete(s.signers, id)
		}
	}
	if snap.body, err = json.Marshal(snap.set); err != nil {
		return nil, fmt.Errorf("jwks: encode: %w", err)
	}
	return snap, nil
}

// publicJWK is the published form of a public key; see the package
// documentation for the "alg" member.
func publicJWK(kid string, pub any) (jose.JSONWebKey, error) {
	jwk := jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig"}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			jwk.Algorithm = string(jose.ES256)
		case elliptic.P384():
			jwk.Algorithm = string(jose.ES384)
		default:
			return jose.JSONWebKey{}, fmt.Errorf("%w: no JWS algorithm for ECDSA on %s", hsm.ErrUnsupportedAlgorithm, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		jwk.Algorithm = string(jose.EdDSA)
	case *rsa.PublicKey:
		// No "alg": RS256 and PS256 (RFC 7517 §4.4).
	default:
		return jose.JSONWebKey{}, fmt.Errorf("%w: cannot publish a %T as a JWK", hsm.ErrUnsupportedAlgorithm, pub)
	}
	if !jwk.Valid() {
		return jose.JSONWebKey{}, errors.New("public key is not a valid JWK")
	}
	return jwk, nil
}
