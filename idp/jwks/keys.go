package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Keys is the provider's whole token-signing key material: one Set per
// role (ES256 keys under oidc-signing, RSA keys for RS256 and PS256 under
// oidc-signing-rsa), published together at the jwks_uri.
type Keys struct {
	sets []*Set
}

// NewKeys combines sets; the first set whose active key signs an algorithm
// signs with it.
func NewKeys(sets ...*Set) *Keys { return &Keys{sets: sets} }

// Published is the union of the sets' published keys.
func (k *Keys) Published(ctx context.Context) (jose.JSONWebKeySet, error) {
	var all jose.JSONWebKeySet
	for _, s := range k.sets {
		ks, err := s.Published(ctx)
		if err != nil {
			return jose.JSONWebKeySet{}, err
		}
		all.Keys = append(all.Keys, ks.Keys...)
	}
	return all, nil
}

// Signer returns the signer for alg and its key ID, or ErrNoSigningKey.
func (k *Keys) Signer(ctx context.Context, alg jose.SignatureAlgorithm) (jose.OpaqueSigner, string, error) {
	var errs []error
	for _, s := range k.sets {
		signer, kid, err := s.Signer(ctx, alg)
		if err == nil {
			return signer, kid, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, "", ErrNoSigningKey
	}
	return nil, "", errors.Join(errs...)
}

// SigningAlgorithms lists every algorithm some active key signs with, in
// the sets' order (ES256 first).
func (k *Keys) SigningAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	var algs []jose.SignatureAlgorithm
	for _, s := range k.sets {
		a, err := s.SigningAlgorithms(ctx)
		if err != nil {
			return nil, err
		}
		for _, x := range a {
			if !slices.Contains(algs, x) {
				algs = append(algs, x)
			}
		}
	}
	return algs, nil
}

// Sign returns the compact JWS of payload (a JSON object) signed with alg,
// with the signing key's "kid" and the given "typ" header ("" for none).
func (k *Keys) Sign(ctx context.Context, alg jose.SignatureAlgorithm, typ string, payload []byte) (string, error) {
	signer, _, err := k.Signer(ctx, alg)
	if err != nil {
		return "", err
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signer}, opts)
	if err != nil {
		return "", fmt.Errorf("jwks: signer: %w", err)
	}
	obj, err := js.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("jwks: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// SignJSON marshals claims and signs them like Sign.
func (k *Keys) SignJSON(ctx context.Context, alg jose.SignatureAlgorithm, typ string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwks: claims: %w", err)
	}
	return k.Sign(ctx, alg, typ, payload)
}

// Refresh re-reads every set.
func (k *Keys) Refresh(ctx context.Context) error {
	for _, s := range k.sets {
		if err := s.Refresh(ctx); err != nil {
			return err
		}
	}
	return nil
}

// RefreshInterval is the shortest refresh interval of the sets.
func (k *Keys) RefreshInterval() time.Duration {
	d := DefaultRefresh
	for i, s := range k.sets {
		if i == 0 || s.refresh < d {
			d = s.refresh
		}
	}
	return d
}

// ServeHTTP answers the jwks_uri with every published key.
func (k *Keys) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	set, err := k.Published(r.Context())
	var body []byte
	if err == nil {
		body, err = json.Marshal(set)
	}
	if err != nil {
		if len(k.sets) > 0 {
			k.sets[0].log.ErrorContext(r.Context(), "jwks: cannot read the signing keys", "err", err)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "signing keys temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(k.RefreshInterval()/time.Second)))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}
