package eidpflow

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/bench/loadgen"
)

// signatureAlgorithms are the ID token algorithms accepted: eidp's ES256,
// RS256 and PS256 (OIDC Core §3.1.3.7 step 7: the alg the client
// registered; never none or HMAC).
var signatureAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256}

// leeway allows for clock skew between the generator and the server.
const leeway = 5 * time.Second

// keySet is the server's JWKS, fetched in Setup and again (at most once a
// second) when an ID token names a kid it lacks (a rotation).
type keySet struct {
	uri string

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

func (k *keySet) fetch(ctx context.Context, c *http.Client) error {
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, c, k.uri, "jwks", &set); err != nil {
		return err
	}
	k.mu.Lock()
	k.keys, k.fetched = set, time.Now()
	k.mu.Unlock()
	return nil
}

func (k *keySet) find(ctx context.Context, c *http.Client, kid string) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	keys, recent := k.keys.Key(kid), time.Since(k.fetched) < time.Second
	k.mu.Unlock()
	if len(keys) > 0 || recent {
		return keys, nil
	}
	if err := k.fetch(ctx, c); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys.Key(kid), nil
}

// idTokenClaims are the ID token claims checked (OIDC Core §2).
type idTokenClaims struct {
	jwt.Claims
	Nonce string `json:"nonce"`
	AZP   string `json:"azp"`
}

// verifyIDToken validates an ID token as OIDC Core §3.1.3.7 asks of a
// client: signature by a key of the JWKS, iss, aud (and azp), exp and iat,
// and the nonce sent. It returns the claims.
func verifyIDToken(ctx context.Context, c *http.Client, keys *keySet, raw, issuer, clientID, nonce string) (idTokenClaims, error) {
	var claims idTokenClaims
	tok, err := jwt.ParseSigned(raw, signatureAlgorithms)
	if err != nil {
		return claims, loadgen.Fail(KindIDToken, "the ID token does not parse as a JWS with ES256, RS256 or PS256: %v", err)
	}
	kid := tok.Headers[0].KeyID
	candidates, err := keys.find(ctx, c, kid)
	if err != nil {
		return claims, err
	}
	if len(candidates) == 0 {
		return claims, loadgen.Fail(KindIDToken, "the ID token is signed by kid %q, which the JWKS does not have", kid)
	}
	verified := slices.ContainsFunc(candidates, func(k jose.JSONWebKey) bool { return tok.Claims(k.Key, &claims) == nil })
	if !verified {
		return claims, loadgen.Fail(KindIDToken, "the ID token's signature does not verify with JWKS key %q", kid)
	}
	err = claims.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{clientID}, Time: time.Now()}, leeway)
	switch {
	case err != nil:
		return claims, loadgen.Fail(KindIDToken, "the ID token's claims: %v", err)
	case claims.Expiry == nil || claims.IssuedAt == nil:
		return claims, loadgen.Fail(KindIDToken, "the ID token lacks exp or iat")
	case claims.Subject == "":
		return claims, loadgen.Fail(KindIDToken, "the ID token has no sub")
	case len(claims.Audience) > 1 && claims.AZP != clientID:
		return claims, loadgen.Fail(KindIDToken, "the ID token has several audiences and azp %q", claims.AZP)
	case claims.Nonce != nonce:
		return claims, loadgen.Fail(KindIDToken, "the ID token's nonce is not the one sent")
	}
	return claims, nil
}
