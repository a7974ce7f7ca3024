package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/bench/loadgen"
)

// signatureAlgorithms are the JWS algorithms accepted on tokens: the
// asymmetric ones of RFC 7518 §3.1 and RFC 8037 (never none or HMAC, whose
// key a client would not have).
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// leeway allows for clock skew between generator and server.
const leeway = 5 * time.Second

// refetchEvery bounds how often an unknown kid makes the JWKS be fetched
// again (the first unknown kid after Setup refetches at once: the server
// may have rotated its key), so that a server signing with a key it does not publish is not
// also flooded with JWKS requests.
const refetchEvery = time.Second

// keySet is the server's JWKS: fetched in Setup, fetched again when a token
// names a kid it lacks.
type keySet struct {
	uri    string
	client *http.Client

	mu   sync.RWMutex
	keys jose.JSONWebKeySet

	refetch     sync.Mutex // one refetch at a time; guards lastRefetch
	lastRefetch time.Time
}

func (k *keySet) fetch(ctx context.Context) error {
	var set jose.JSONWebKeySet
	if _, err := getJSON(ctx, k.client, k.uri, "", &set); err != nil {
		return err
	}
	k.mu.Lock()
	k.keys = set
	k.mu.Unlock()
	return nil
}

// candidates returns the signing keys with kid (every signing key when kid
// is empty).
func (k *keySet) candidates(kid string) []jose.JSONWebKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []jose.JSONWebKey
	for _, key := range k.keys.Keys {
		if (kid == "" || key.KeyID == kid) && key.Use != "enc" {
			out = append(out, key)
		}
	}
	return out
}

// find returns the keys for kid, fetching the set again (at most once per
// refetchEvery) when it has none.
func (k *keySet) find(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys := k.candidates(kid); len(keys) > 0 {
		return keys, nil
	}
	k.refetch.Lock()
	defer k.refetch.Unlock()
	if keys := k.candidates(kid); len(keys) > 0 {
		return keys, nil // another worker fetched it meanwhile
	}
	if time.Since(k.lastRefetch) >= refetchEvery {
		k.lastRefetch = time.Now()
		if err := k.fetch(ctx); err != nil {
			var f *loadgen.Failure
			if errors.As(err, &f) {
				return nil, loadgen.Fail(KindJWKS, "fetching the JWKS again for kid %q: %s", kid, f.Detail)
			}
			return nil, err
		}
	}
	return k.candidates(kid), nil
}

// looksLikeJWT reports whether a token is a JWS in compact form: three
// segments and a JSON header with an alg. Anything else is opaque to us.
func looksLikeJWT(token string) bool {
	head, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	return json.Unmarshal(b, &h) == nil && h.Alg != ""
}

// tokenClaims are the claims checked on a JWT access token (RFC 9068 §2.2)
// and a signed userinfo response (OpenID Connect Core §5.3.2).
type tokenClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	AZP      string `json:"azp"`
}

// verifyJWT checks raw's signature against the JWKS and its time claims,
// and that iss (when present) is the issuer. It returns the claims.
func verifyJWT(ctx context.Context, keys *keySet, issuer, raw, what string) (tokenClaims, error) {
	var claims tokenClaims
	if keys == nil {
		return claims, loadgen.Fail(KindSignature, "%s is a JWT but the server publishes no jwks_uri to verify it (give -jwks-uri)", what)
	}
	tok, err := jwt.ParseSigned(raw, signatureAlgorithms)
	if err != nil {
		return claims, loadgen.Fail(KindTokenFormat, "%s looks like a JWT but does not parse: %v", what, err)
	}
	kid := tok.Headers[0].KeyID
	candidates, err := keys.find(ctx, kid)
	if err != nil {
		return claims, err
	}
	if len(candidates) == 0 {
		return claims, loadgen.Fail(KindSignature, "%s is signed by an unknown key (kid %q, not in the JWKS)", what, kid)
	}
	verified := false
	for _, key := range candidates {
		if tok.Claims(key.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return claims, loadgen.Fail(KindSignature, "%s: the signature does not verify with the JWKS key %q", what, kid)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, leeway); err != nil {
		return claims, loadgen.Fail(KindClaims, "%s: %v", what, err)
	}
	if issuer != "" && claims.Issuer != "" && claims.Issuer != issuer {
		return claims, loadgen.Fail(KindClaims, "%s: iss %q, want %q", what, claims.Issuer, issuer)
	}
	return claims, nil
}

// tokenKinds counts the access tokens seen, for the result's notes.
type tokenKinds struct{ jwt, opaque atomic.Int64 }

func (t *tokenKinds) notes() []string {
	j, o := t.jwt.Load(), t.opaque.Load()
	if j+o == 0 {
		return nil
	}
	return []string{formatCount(j, "JWT access token") + " (signature, exp, iat, iss and client_id/azp checked), " +
		formatCount(o, "opaque access token") + " (not verifiable by a client), warm-up included"}
}

func formatCount(n int64, what string) string {
	s := what + "s"
	if n == 1 {
		s = what
	}
	return itoa(n) + " " + s
}
