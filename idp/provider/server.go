package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"eidp/idp/client"
	"eidp/idp/clientauth"
	"eidp/idp/grant"
)

// server implements zitadel/oidc's op.Server for the token, introspection
// and revocation endpoints. Every error it returns is an *oidc.Error whose
// description is safe to show; causes go to the log.
type server struct {
	op.UnimplementedServer
	p *Provider
}

// opClient adapts a registered client to op.Client, which zitadel's HTTP
// layer consults for the grant types a client may use.
type opClient struct {
	client.Client
}

func (c opClient) GetID() string                    { return c.ClientID }
func (c opClient) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c opClient) PostLogoutRedirectURIs() []string { return c.Client.PostLogoutRedirectURIs }
func (c opClient) ApplicationType() op.ApplicationType {
	if c.IsPublic() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}
func (c opClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethod(c.TokenEndpointAuthMethod) }
func (c opClient) ResponseTypes() []oidc.ResponseType {
	var out []oidc.ResponseType
	for _, rt := range c.Client.ResponseTypes {
		out = append(out, oidc.ResponseType(rt))
	}
	return out
}
func (c opClient) GrantTypes() []oidc.GrantType {
	var out []oidc.GrantType
	for _, g := range c.Client.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}
func (c opClient) LoginURL(string) string               { return PathLogin }
func (c opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c opClient) IDTokenLifetime() time.Duration       { return 0 }
func (c opClient) DevMode() bool                        { return false }
func (c opClient) IsScopeAllowed(scope string) bool     { return c.Client.IsScopeAllowed(scope) }
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c opClient) ClockSkew() time.Duration             { return 0 }
func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func serverError(p *Provider, ctx context.Context, what string, err error) *oidc.Error {
	p.log.ErrorContext(ctx, what, "err", err)
	return oidc.ErrServerError().WithDescription("internal error")
}

// VerifyClient authenticates the client of a token, introspection or
// revocation request (clientauth does the work).
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	c, err := s.p.authenticate(ctx, clientauth.Credentials{
		ClientID: r.Data.ClientID, ClientSecret: r.Data.ClientSecret, Basic: usedBasic(r.Header),
		ClientAssertion: r.Data.ClientAssertion, ClientAssertionType: r.Data.ClientAssertionType,
	})
	if err != nil {
		return nil, err
	}
	return opClient{c}, nil
}

// usedBasic reports whether the client authenticated with HTTP Basic
// (client_secret_basic), which zitadel's parsed credentials do not say.
func usedBasic(h http.Header) bool {
	_, _, ok := (&http.Request{Header: h}).BasicAuth()
	return ok
}

// authenticate maps clientauth's errors to OAuth errors.
func (p *Provider) authenticate(ctx context.Context, cr clientauth.Credentials) (client.Client, error) {
	c, err := p.ClientAuth.Authenticate(ctx, cr)
	if err == nil {
		return c, nil
	}
	desc := "client authentication failed"
	var ce *clientauth.Error
	if errors.As(err, &ce) && ce.Description != "" {
		desc = ce.Description
	}
	switch {
	case errors.Is(err, clientauth.ErrInvalidClient):
		return client.Client{}, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("%s", desc), http.StatusUnauthorized)
	case errors.Is(err, clientauth.ErrInvalidRequest):
		return client.Client{}, oidc.ErrInvalidRequest().WithDescription("%s", desc)
	}
	return client.Client{}, serverError(p, ctx, "client authentication", err)
}

var verifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// CodeExchange redeems an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.6, OIDC Core §3.1.3).
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(opClient).Client
	g, raw, err := p.Grants.RedeemCode(ctx, r.Data.Code, c.ClientID)
	switch {
	case errors.Is(err, grant.ErrUsed):
		p.log.WarnContext(ctx, "authorization code used twice; its grant is revoked", "client_id", c.ClientID)
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code was already used; the tokens issued with it are revoked")
	case errors.Is(err, grant.ErrNotFound), errors.Is(err, grant.ErrExpired), errors.Is(err, grant.ErrRevoked):
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization code is invalid or has expired")
	case err != nil:
		return nil, serverError(p, ctx, "code exchange", err)
	}
	var cp codeParams
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, serverError(p, ctx, "code params", err)
	}
	if r.Data.RedirectURI != cp.RedirectURI {
		p.Grants.Revoke(ctx, g.ID, "redirect_uri_mismatch")
		return nil, oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
	}
	if !verifierRE.MatchString(r.Data.CodeVerifier) {
		p.Grants.Revoke(ctx, g.ID, "pkce_failed")
		return nil, oidc.ErrInvalidGrant().WithDescription("code_verifier is missing or malformed (RFC 7636 §4.1)")
	}
	sum := sha256.Sum256([]byte(r.Data.CodeVerifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(cp.CodeChallenge)) != 1 {
		p.Grants.Revoke(ctx, g.ID, "pkce_failed")
		return nil, oidc.ErrInvalidGrant().WithDescription("code_verifier does not match the code_challenge")
	}
	return p.tokenResponse(ctx, c, g, cp.Nonce, true)
}

// tokenResponse issues an access token, an ID token and (for clients with
// the refresh_token grant) a refresh token for g.
func (p *Provider) tokenResponse(ctx context.Context, c client.Client, g grant.Grant, nonce string, withRefresh bool) (*op.Response, error) {
	at, exp, err := p.mintAccessToken(ctx, c, &g, g.Scope)
	if err != nil {
		return nil, serverError(p, ctx, "access token", err)
	}
	idt, err := p.mintIDToken(ctx, c, g, nonce, at)
	if err != nil {
		return nil, serverError(p, ctx, "ID token", err)
	}
	out := tokenBody{AccessToken: at, TokenType: tokenTypeBearer, ExpiresIn: int64(exp.Sub(p.now()).Seconds()),
		IDToken: idt, Scope: g.Scope}
	gc, err := decodeGrantClaims(g)
	if err != nil {
		return nil, serverError(p, ctx, "grant claims", err)
	}
	out.AuthorizationDetails = gc.AuthorizationDetails
	// A credential authorization is for one signature call: no refresh.
	if withRefresh && c.HasGrant(client.GrantRefreshToken) && len(gc.AuthorizationDetails) == 0 {
		if out.RefreshToken, err = p.Grants.IssueRefresh(ctx, g.ID, p.opts.RefreshTokenLifetime); err != nil {
			return nil, serverError(p, ctx, "refresh token", err)
		}
	}
	return op.NewResponse(out), nil
}

// tokenBody is the token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// AuthorizationDetails: RFC 9396 §7.1, for credential authorizations.
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

// RefreshToken (RFC 6749 §6, OIDC Core §12). Public clients get a new
// refresh token each time and the old one stops working; a rotated token
// presented again revokes the grant (OAuth 2.0 Security BCP §4.14.2).
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(opClient).Client
	rotate := c.IsPublic()
	g, next, err := p.Grants.UseRefresh(ctx, r.Data.RefreshToken, c.ClientID, rotate, p.opts.RefreshTokenLifetime)
	switch {
	case errors.Is(err, grant.ErrUsed):
		p.log.WarnContext(ctx, "rotated refresh token used again; its grant is revoked", "client_id", c.ClientID)
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used; the grant is revoked")
	case errors.Is(err, grant.ErrNotFound), errors.Is(err, grant.ErrExpired), errors.Is(err, grant.ErrRevoked):
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is invalid, expired or revoked")
	case err != nil:
		return nil, serverError(p, ctx, "refresh", err)
	}
	scope := g.Scope
	if len(r.Data.Scopes) > 0 {
		// RFC 6749 §6: a narrower scope may be asked, never a wider one.
		have := strings.Fields(g.Scope)
		for _, sc := range r.Data.Scopes {
			if !slices.Contains(have, sc) {
				return nil, oidc.ErrInvalidScope().WithDescription("scope %q was not granted", sc)
			}
		}
		scope = strings.Join(r.Data.Scopes, " ")
	}
	resp, err := p.tokenResponse(ctx, c, g, "", false)
	if err != nil {
		return nil, err
	}
	body := resp.Data.(tokenBody)
	if scope != g.Scope {
		if body.AccessToken, _, err = p.mintAccessToken(ctx, c, &g, scope); err != nil {
			return nil, serverError(p, ctx, "access token", err)
		}
		body.Scope = scope
	}
	if !strings.Contains(" "+scope+" ", " openid ") {
		body.IDToken = ""
	}
	body.RefreshToken = next
	if !rotate {
		body.RefreshToken = "" // the client keeps using the one it has
	}
	return op.NewResponse(body), nil
}

// ClientCredentialsExchange (RFC 6749 §4.4): a department back-end's own
// token. No resident is involved: no user scopes, no ID token.
func (s *server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(opClient).Client
	var scopes []string
	for _, sc := range r.Data.Scope {
		switch {
		case sc == scopeOpenID || sc == scopeOffline || sc == "profile" || sc == client.ScopeIDCard:
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q needs a resident; use the authorization code flow", sc)
		case sc == scopeAdmin && !c.Admin:
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is for admin clients only", sc)
		case sc != scopeAdmin && !c.IsScopeAllowed(sc):
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for this client", sc)
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	scope := strings.Join(scopes, " ")
	at, exp, err := p.mintAccessToken(ctx, c, nil, scope)
	if err != nil {
		return nil, serverError(p, ctx, "access token", err)
	}
	return op.NewResponse(tokenBody{AccessToken: at, TokenType: tokenTypeBearer,
		ExpiresIn: int64(exp.Sub(p.now()).Seconds()), Scope: scope}), nil
}

// Introspect (RFC 7662). The caller must be an authenticated confidential
// client, and it learns only about its own tokens: for a token of another
// client the answer is {"active": false}, so pairwise subjects stay
// unlinkable.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	p := s.p
	cc := r.Data.ClientCredentials
	c, err := p.authenticate(ctx, clientauth.Credentials{ClientID: cc.ClientID, ClientSecret: cc.ClientSecret, Basic: usedBasic(r.Header),
		ClientAssertion: cc.ClientAssertion, ClientAssertionType: cc.ClientAssertionType})
	if err != nil {
		return nil, err
	}
	if c.IsPublic() {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("public clients cannot introspect"), http.StatusUnauthorized)
	}
	inactive := op.NewResponse(map[string]any{"active": false})
	token := r.Data.Token
	if strings.Count(token, ".") == 2 {
		at, g, err := p.parseAccessToken(ctx, token)
		if errors.Is(err, errInvalidToken) || (err == nil && at.ClientID != c.ClientID) {
			return inactive, nil
		}
		if err != nil {
			return nil, serverError(p, ctx, "introspect", err)
		}
		out := map[string]any{
			"active": true, "token_type": tokenTypeBearer, "client_id": at.ClientID, "sub": at.Subject,
			"scope": at.Scope, "exp": at.Expiry.Time().Unix(), "iat": at.IssuedAt.Time().Unix(),
			"iss": at.Issuer, "aud": at.Audience, "jti": at.ID,
		}
		if g != nil {
			out["auth_time"] = g.AuthTime.Unix()
			out["acr"] = g.ACR
			out["amr"] = g.AMR
		}
		return op.NewResponse(out), nil
	}
	g, exp, err := p.Grants.LookupRefresh(ctx, token)
	if err != nil || g.ClientID != c.ClientID {
		if err != nil && !errors.Is(err, grant.ErrNotFound) && !errors.Is(err, grant.ErrExpired) &&
			!errors.Is(err, grant.ErrRevoked) && !errors.Is(err, grant.ErrUsed) {
			return nil, serverError(p, ctx, "introspect", err)
		}
		return inactive, nil
	}
	return op.NewResponse(map[string]any{
		"active": true, "token_type": "refresh_token", "client_id": g.ClientID,
		"sub": p.subjectFor(c, g.ResidentID), "scope": g.Scope, "exp": exp.Unix(),
		"iat": g.CreatedAt.Unix(), "iss": p.opts.Issuer, "auth_time": g.AuthTime.Unix(), "acr": g.ACR,
	}), nil
}

// Revocation (RFC 7009). Answers 200 whether or not the token was valid
// (§2.2); a token of another client is left alone.
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	p := s.p
	c := r.Client.(opClient).Client
	token := r.Data.Token
	if strings.Count(token, ".") == 2 {
		at, _, err := p.parseAccessToken(ctx, token)
		switch {
		case errors.Is(err, errInvalidToken):
		case err != nil:
			return nil, serverError(p, ctx, "revoke", err)
		case at.ClientID == c.ClientID:
			if err := p.Grants.RevokeAccessToken(ctx, at.ID, at.Expiry.Time()); err != nil {
				return nil, serverError(p, ctx, "revoke", err)
			}
		}
		return op.NewResponse(struct{}{}), nil
	}
	if _, err := p.Grants.RevokeRefresh(ctx, token, c.ClientID); err != nil {
		return nil, serverError(p, ctx, "revoke", err)
	}
	return op.NewResponse(struct{}{}), nil
}
