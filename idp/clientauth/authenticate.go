package clientauth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/client"
	"eidp/internal/db"
)

// Credentials are a request's client credentials as the HTTP layer parsed
// them. The HTTP layer refuses, as invalid_request, a request that has both
// an Authorization: Basic header and a client_secret parameter; a client_id
// parameter beside Basic must equal the header's.
type Credentials struct {
	ClientID, ClientSecret string
	// Basic: ClientID and ClientSecret came from the Authorization: Basic
	// header (client_secret_basic); false: from the form body
	// (client_secret_post).
	Basic bool
	// ClientAssertion and ClientAssertionType are RFC 7521 §4.2's
	// parameters (private_key_jwt).
	ClientAssertion, ClientAssertionType string
}

// Authenticate returns the client that c authenticates. It accepts exactly
// one method, and only the one the client registered as its
// token_endpoint_auth_method (OpenID Connect Core §9): client_secret_basic
// (Basic set), client_secret_post (a client_secret in the body),
// private_key_jwt (a client assertion) or none (client_id alone, public
// clients only). Refusals are *Error wrapping ErrInvalidClient or
// ErrInvalidRequest; a database failure is returned as itself.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (client.Client, error) {
	usesSecret := c.Basic || c.ClientSecret != ""
	usesAssertion := c.ClientAssertion != "" || c.ClientAssertionType != ""
	var (
		cl  client.Client
		err error
	)
	switch {
	case usesSecret && usesAssertion:
		// RFC 6749 §2.3: the client MUST NOT use more than one method.
		err = refuse(ErrInvalidRequest, nil, "the request uses more than one client authentication method (a client secret and a client assertion); use only the one the client is registered for")
	case usesAssertion:
		cl, err = a.authenticateAssertion(ctx, c)
	case usesSecret:
		cl, err = a.authenticateSecret(ctx, c)
	default:
		cl, err = a.authenticatePublic(ctx, c.ClientID)
	}
	if err != nil {
		return client.Client{}, err
	}
	return cl, nil
}

// authenticateSecret: client_secret_basic and client_secret_post (RFC 6749
// §2.3.1).
func (a *Authenticator) authenticateSecret(ctx context.Context, c Credentials) (client.Client, error) {
	if c.ClientID == "" {
		return client.Client{}, refuse(ErrInvalidRequest, nil, "client_secret without client_id; send both (RFC 6749 §2.3.1)")
	}
	cl, err := a.clients.VerifySecret(ctx, c.ClientID, c.ClientSecret)
	if errors.Is(err, client.ErrInvalidClient) {
		// Unknown client, wrong secret and a client without a secret
		// (a public or private_key_jwt one) look the same.
		return client.Client{}, authFailed(nil)
	}
	if err != nil {
		return client.Client{}, fmt.Errorf("clientauth: verify client secret: %w", err)
	}
	method := client.AuthClientSecretPost
	if c.Basic {
		method = client.AuthClientSecretBasic
	}
	if cl.TokenEndpointAuthMethod != method {
		// The secret is right, so saying which method to use tells
		// nothing to someone who does not already hold it.
		return client.Client{}, refuse(ErrInvalidClient, nil, "the client is registered for %s, not %s (OpenID Connect Core §9)", cl.TokenEndpointAuthMethod, method)
	}
	return cl, nil
}

// authenticatePublic: token_endpoint_auth_method none (RFC 6749 §2.1).
func (a *Authenticator) authenticatePublic(ctx context.Context, id string) (client.Client, error) {
	if id == "" {
		return client.Client{}, refuse(ErrInvalidClient, nil, "no client authentication: send client_id, and the credentials the client is registered for")
	}
	cl, err := a.clients.Get(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return client.Client{}, authFailed(nil)
	}
	if err != nil {
		return client.Client{}, fmt.Errorf("clientauth: look up client: %w", err)
	}
	if !cl.IsPublic() {
		// A confidential client without its credentials: the same answer
		// as an unknown client.
		return client.Client{}, authFailed(fmt.Errorf("client %s is registered for %s and sent no credentials", cl.ClientID, cl.TokenEndpointAuthMethod))
	}
	return cl, nil
}

// authenticateAssertion: private_key_jwt (RFC 7523 §2.2, §3; RFC 7521
// §4.2; OpenID Connect Core §9).
func (a *Authenticator) authenticateAssertion(ctx context.Context, c Credentials) (client.Client, error) {
	const what = "the client assertion"
	switch {
	case c.ClientAssertion == "" || c.ClientAssertionType == "":
		return client.Client{}, refuse(ErrInvalidRequest, nil, "client_assertion and client_assertion_type go together (RFC 7521 §4.2); send both")
	case c.ClientAssertionType != AssertionType:
		return client.Client{}, refuse(ErrInvalidClient, nil, "client_assertion_type must be %s (RFC 7523 §2.2)", AssertionType)
	}
	jws, perr := parseJWS(c.ClientAssertion, maxAssertionSize, registrableAlgs, ErrInvalidClient, what)
	if perr != nil {
		return client.Client{}, perr
	}
	h := header(jws)
	if jwtType(h) == typRequestObject {
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s is typed %s, a request object; a request object is not a client assertion", what, typRequestObject)
	}
	// The claims are read before the signature is checked only to find
	// the client; nothing else is trusted until the signature verifies.
	unverified, err := decodeClaims(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return client.Client{}, refuse(ErrInvalidClient, err, "%s's claims are not a JSON object of the registered JWT claim types (RFC 7519 §4.1)", what)
	}
	iss, sub := unverified.Issuer, unverified.Subject
	switch {
	case iss == "" || sub == "":
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s needs iss and sub, both the client_id (RFC 7523 §3)", what)
	case iss != sub:
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s's iss and sub differ; both must be the client_id (RFC 7523 §3)", what)
	case c.ClientID != "" && c.ClientID != iss:
		return client.Client{}, refuse(ErrInvalidClient, nil, "client_id does not match the iss and sub of %s", what)
	}

	cl, err := a.clients.Get(ctx, iss)
	if errors.Is(err, client.ErrNotFound) {
		return client.Client{}, authFailed(nil)
	}
	if err != nil {
		return client.Client{}, fmt.Errorf("clientauth: look up client: %w", err)
	}
	if cl.TokenEndpointAuthMethod != client.AuthPrivateKeyJWT {
		return client.Client{}, authFailed(fmt.Errorf("client %s is registered for %s and sent a client assertion", cl.ClientID, cl.TokenEndpointAuthMethod))
	}
	alg := jose.SignatureAlgorithm(h.Algorithm)
	if registered := cl.TokenEndpointAuthSigningAlg; registered != "" {
		if string(alg) != registered {
			return client.Client{}, authFailed(fmt.Errorf("client %s signed its assertion with %s but registered %s", cl.ClientID, alg, registered))
		}
	} else if !slices.Contains(DefaultAlgs, alg) {
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s has alg %s; sign it with one of %s, or register token_endpoint_auth_signing_alg", what, quoteShort(string(alg)), joinAlgs(DefaultAlgs))
	}

	payload, err := a.verifySignature(ctx, cl, jws)
	switch {
	case errors.Is(err, errNoKeys), errors.Is(err, errNotJWKSet), errors.Is(err, errNoMatchingKey), errors.Is(err, errBadSignature):
		return client.Client{}, authFailed(fmt.Errorf("client %s: %w", cl.ClientID, err))
	case err != nil:
		// Only a jwks_uri fetch fails this way, which the client's
		// operator can fix; the client exists, but that is no secret
		// once it signs assertions.
		return client.Client{}, refuse(ErrInvalidClient, err, "the client's keys could not be fetched from its jwks_uri; try again later")
	}
	cs, err := decodeClaims(payload)
	if err != nil {
		return client.Client{}, refuse(ErrInvalidClient, err, "%s's claims are not a JSON object of the registered JWT claim types (RFC 7519 §4.1)", what)
	}

	audiences := append([]string{a.opts.Issuer}, a.opts.Audiences...)
	switch {
	case len(cs.ResponseType) > 0:
		// An authorization request's parameters: this is a request
		// object, which travels through browsers and so must never
		// authenticate its client.
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s carries response_type, like a request object; a request object is not a client assertion", what)
	case !audienceOK(cs.Audience, audiences):
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s's aud must contain the issuer %s (RFC 7523 §3)", what, a.opts.Issuer)
	case cs.ID == "":
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s has no jti; give every assertion a unique one (RFC 7523 §3)", what)
	case len(cs.ID) > maxJTILen:
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s's jti is longer than %d characters", what, maxJTILen)
	}
	if desc := a.checkTimes(cs.Claims, a.opts.MaxAssertionLifetime, what); desc != "" {
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s", desc)
	}

	// RFC 7523 §3 item 7: a jti is used once. The record lives as long as
	// the assertion could still be accepted (exp plus the leeway); the
	// insert is the check, so that two nodes cannot both accept it.
	res, err := a.db.ExecContext(ctx, `INSERT INTO oidc_client_assertions (client_id, jti, expires_at)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		cl.ClientID, cs.ID, db.Timestamp{Time: cs.Expiry.Time().Add(a.opts.Leeway)})
	if err != nil {
		return client.Client{}, fmt.Errorf("clientauth: record assertion jti: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return client.Client{}, fmt.Errorf("clientauth: record assertion jti: %w", err)
	}
	if n == 0 {
		return client.Client{}, refuse(ErrInvalidClient, nil, "%s was already used (its jti was seen before); sign a new assertion, with a new jti, for every request (RFC 7523 §3)", what)
	}
	return cl, nil
}
