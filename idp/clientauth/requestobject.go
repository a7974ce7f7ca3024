package clientauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"eidp/idp/client"
)

// VerifyRequestObject verifies a request object passed by value (the
// request parameter; RFC 9101 §4, §6.3; OpenID Connect Core §6.1) for
// client c, and returns its claims, which the caller turns into
// authorization request parameters. Numbers come as json.Number, so that
// max_age and the like keep their exact digits.
//
// It must be a JWS signed with one of DefaultAlgs by one of c's keys (alg
// none is refused: an unsigned request object proves nothing about who
// wrote it), with iss = c's client_id, an aud containing the issuer (a
// string or an array), exp in the future and at most
// MaxRequestObjectLifetime ahead, nbf and iat (if present) respected with
// the leeway, a client_id claim (if present) equal to c's, and neither
// request nor request_uri inside (RFC 9101 §4). Refusals are *Error
// wrapping ErrInvalidRequestObject.
func (a *Authenticator) VerifyRequestObject(ctx context.Context, c client.Client, requestObject string) (map[string]any, error) {
	const what = "the request object"
	jws, perr := parseJWS(requestObject, maxRequestObjectSize, DefaultAlgs, ErrInvalidRequestObject, what)
	if perr != nil {
		return nil, perr
	}
	if jwtType(header(jws)) == typClientAssertion {
		return nil, refuse(ErrInvalidRequestObject, nil, "%s is typed %s, a client assertion", what, typClientAssertion)
	}
	payload, err := a.verifySignature(ctx, c, jws)
	switch {
	case errors.Is(err, errNoKeys), errors.Is(err, errNotJWKSet):
		return nil, refuse(ErrInvalidRequestObject, err, "the client has registered no usable public keys (jwks or jwks_uri) to verify %s with", what)
	case errors.Is(err, errNoMatchingKey):
		return nil, refuse(ErrInvalidRequestObject, nil, "no key of the client matches the kid and alg of %s", what)
	case errors.Is(err, errBadSignature):
		return nil, refuse(ErrInvalidRequestObject, nil, "the signature of %s does not verify with the client's registered keys", what)
	case err != nil:
		return nil, refuse(ErrInvalidRequestObject, err, "the client's keys could not be fetched from its jwks_uri; try again later")
	}

	cs, err := decodeClaims(payload)
	if err != nil {
		return nil, refuse(ErrInvalidRequestObject, err, "%s's claims are not a JSON object of the registered JWT claim types (RFC 7519 §4.1)", what)
	}
	claims, err := decodeObject(payload)
	if err != nil {
		return nil, refuse(ErrInvalidRequestObject, err, "%s's payload is not a JSON object", what)
	}
	switch {
	case cs.Issuer != c.ClientID:
		return nil, refuse(ErrInvalidRequestObject, nil, "%s's iss must be the client_id (RFC 9101 §4)", what)
	case !audienceOK(cs.Audience, []string{a.opts.Issuer}):
		return nil, refuse(ErrInvalidRequestObject, nil, "%s's aud must contain the issuer %s (RFC 9101 §4)", what, a.opts.Issuer)
	}
	if id, ok := claims["client_id"]; ok && id != c.ClientID {
		return nil, refuse(ErrInvalidRequestObject, nil, "%s's client_id is not the client's (RFC 9101 §5)", what)
	}
	for _, name := range []string{"request", "request_uri"} {
		if _, ok := claims[name]; ok {
			return nil, refuse(ErrInvalidRequestObject, nil, "%s must not contain %s (RFC 9101 §4)", what, name)
		}
	}
	if desc := a.checkTimes(cs.Claims, MaxRequestObjectLifetime, what); desc != "" {
		return nil, refuse(ErrInvalidRequestObject, nil, "%s", desc)
	}
	return claims, nil
}

// decodeObject decodes a JSON object, numbers as json.Number.
func decodeObject(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null is not an object")
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return m, nil
}
