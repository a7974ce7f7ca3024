package clientauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/idp/client"
)

// JWT typ values (RFC 8725 §3.11 explicit typing) that tell a request
// object (RFC 9101 §10.8) from a client assertion; compared without the
// "application/" prefix and case (RFC 7515 §4.1.9).
const (
	typRequestObject   = "oauth-authz-req+jwt"
	typClientAssertion = "client-authentication+jwt"
)

// Reasons a signature check fails, for the logs; callers turn them into an
// *Error of the right kind.
var (
	errNoKeys        = errors.New("the client has registered no usable public keys (jwks or jwks_uri)")
	errNoMatchingKey = errors.New("no key of the client matches the JWS kid and alg")
	errBadSignature  = errors.New("the signature does not verify with the client's keys")
)

// parseJWS parses token, at most maxSize bytes, as a JWS in the compact
// serialization signed with one of algs. what names the token in the
// description ("the client assertion").
func parseJWS(token string, maxSize int, algs []jose.SignatureAlgorithm, kind error, what string) (*jose.JSONWebSignature, *Error) {
	switch {
	case token == "":
		return nil, refuse(kind, nil, "%s is empty", what)
	case len(token) > maxSize:
		return nil, refuse(kind, nil, "%s is larger than %d bytes", what, maxSize)
	case strings.Count(token, ".") == 4:
		return nil, refuse(kind, nil, "%s is encrypted (JWE); send it signed (JWS) only", what)
	}
	jws, err := jose.ParseSignedCompact(token, algs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return nil, refuse(kind, nil, "%s has alg %s; sign it with one of %s", what, quoteShort(string(algErr.Got)), joinAlgs(algs))
		}
		return nil, refuse(kind, err, "%s is not a JWS in the compact serialization (RFC 7515 §7.1)", what)
	}
	return jws, nil
}

// header is the JWS's (only) header; the compact serialization has one.
func header(jws *jose.JSONWebSignature) jose.Header { return jws.Signatures[0].Header }

// jwtType is the header's typ, lower case, without "application/".
func jwtType(h jose.Header) string {
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	typ = strings.ToLower(typ)
	return strings.TrimPrefix(typ, "application/")
}

// verifySignature checks jws with the client's keys and returns the payload.
// Its errors are errNoKeys, errNoMatchingKey, errBadSignature, or a
// failure to fetch jwks_uri.
func (a *Authenticator) verifySignature(ctx context.Context, c client.Client, jws *jose.JSONWebSignature) ([]byte, error) {
	h := header(jws)
	set, err := a.ClientKeys(ctx, c, h.KeyID)
	if err != nil {
		return nil, err
	}
	keys := candidateKeys(set, h.KeyID, jose.SignatureAlgorithm(h.Algorithm))
	if len(keys) == 0 {
		return nil, errNoMatchingKey
	}
	for _, k := range keys[:min(len(keys), maxKeysTried)] {
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	return nil, errBadSignature
}

// candidateKeys are the keys of set that can have made a signature with
// alg under kid (any kid when empty): JWK use and alg, where present, must
// allow it (RFC 7517 §4.2, §4.4), and the key type must fit the algorithm.
func candidateKeys(set jose.JSONWebKeySet, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		switch {
		case kid != "" && k.KeyID != kid,
			k.Use != "" && k.Use != "sig",
			k.Algorithm != "" && k.Algorithm != string(alg),
			!keyFitsAlg(k.Key, alg):
			continue
		}
		out = append(out, k)
	}
	return out
}

// minRSABits is the smallest RSA key accepted (RFC 7518 §3.3: 2048 or
// larger).
const minRSABits = 2048

func keyFitsAlg(key any, alg jose.SignatureAlgorithm) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return k.Curve == elliptic.P256()
		case jose.ES384:
			return k.Curve == elliptic.P384()
		case jose.ES512:
			return k.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return k.N.BitLen() >= minRSABits
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// claimSet is what both kinds of JWT are checked for.
type claimSet struct {
	jwt.Claims
	ClientID     json.RawMessage `json:"client_id"`
	ResponseType json.RawMessage `json:"response_type"`
}

func decodeClaims(payload []byte) (claimSet, error) {
	var cs claimSet
	if err := json.Unmarshal(payload, &cs); err != nil {
		return claimSet{}, err
	}
	return cs, nil
}

// audienceOK reports whether aud names one of want (RFC 7519 §4.1.3: a
// string or an array of strings).
func audienceOK(aud jwt.Audience, want []string) bool {
	for _, w := range want {
		if w != "" && aud.Contains(w) {
			return true
		}
	}
	return false
}

// checkTimes applies exp (required), nbf and iat with the leeway, and
// bounds the lifetime, both exp - now and exp - iat, by maxLifetime. It
// returns a description of what is wrong, or "".
func (a *Authenticator) checkTimes(cs jwt.Claims, maxLifetime time.Duration, what string) string {
	now, leeway := a.now(), a.opts.Leeway
	if cs.Expiry == nil {
		return what + " has no exp; it is required"
	}
	exp := cs.Expiry.Time()
	if !now.Before(exp.Add(leeway)) {
		return fmt.Sprintf("%s expired at %s (exp)", what, exp.UTC().Format(time.RFC3339))
	}
	if exp.Sub(now) > maxLifetime+leeway {
		return fmt.Sprintf("%s expires at %s, too far ahead: it may be valid for at most %s", what, exp.UTC().Format(time.RFC3339), maxLifetime)
	}
	if cs.NotBefore != nil && now.Add(leeway).Before(cs.NotBefore.Time()) {
		return fmt.Sprintf("%s is not valid before %s (nbf)", what, cs.NotBefore.Time().UTC().Format(time.RFC3339))
	}
	if cs.IssuedAt != nil {
		iat := cs.IssuedAt.Time()
		if iat.After(now.Add(leeway)) {
			return fmt.Sprintf("%s was issued in the future (iat %s)", what, iat.UTC().Format(time.RFC3339))
		}
		if exp.Sub(iat) > maxLifetime {
			return fmt.Sprintf("%s is valid for %s from iat to exp; at most %s is accepted", what, exp.Sub(iat), maxLifetime)
		}
	}
	return ""
}

func joinAlgs(algs []jose.SignatureAlgorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// quoteShort quotes a value the client sent, cut to a length that cannot
// flood a description or a log line.
func quoteShort(s string) string {
	const limit = 40
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return strconv.Quote(s)
}
