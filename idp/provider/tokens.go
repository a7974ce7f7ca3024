package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/idp/account"
	"eidp/idp/claims"
	"eidp/idp/client"
	"eidp/idp/grant"
	"eidp/internal/secret"
)

// grantClaims is what a grant may release (stored as oidc_grants.claims).
type grantClaims struct {
	Items  []claims.Item `json:"items"`            // consented claims, with where they were asked for
	Locale string        `json:"locale,omitempty"` // the resident's language at consent
	// AuthorizationDetails are the RFC 9396 authorization details the
	// resident approved (a credential authorization), returned in the
	// token response (§7.1).
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

// accessClaims are the claims of our access tokens (RFC 9068 §2.2).
type accessClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	Expiry   *jwt.NumericDate `json:"exp"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	ID       string           `json:"jti"`
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope,omitempty"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	ACR      string           `json:"acr,omitempty"`
	AMR      []string         `json:"amr,omitempty"`
}

// grantID is the grant an access token belongs to ("" for client
// credentials): its jti is "<grant ID>.<random>".
func (a accessClaims) grantID() string {
	g, _, ok := strings.Cut(a.ID, ".")
	if !ok || g == ccPrefix {
		return ""
	}
	return g
}

const ccPrefix = "cc"

var errInvalidToken = errors.New("provider: invalid token")

// subjectFor is the resident's subject as client knows it: pairwise by
// sector unless an operator made the client public (OIDC Core §8).
func (p *Provider) subjectFor(c client.Client, residentID string) string {
	if c.SubjectType == client.SubjectPublic {
		return p.Subjects.Public(residentID)
	}
	return p.Subjects.Subject(c.SectorIdentifier(), residentID)
}

// sidFor is the session ID as client knows it.
func (p *Provider) sidFor(c client.Client, sessionID string) string {
	return p.Subjects.SessionID(c.ClientID, sessionID)
}

// mintAccessToken signs an RFC 9068 access token for a grant (g non-nil) or
// for the client itself (client credentials).
func (p *Provider) mintAccessToken(ctx context.Context, c client.Client, g *grant.Grant, scope string) (string, time.Time, error) {
	now := p.now()
	exp := now.Add(p.opts.AccessTokenLifetime)
	at := accessClaims{
		Issuer: p.opts.Issuer, Audience: jwt.Audience{p.opts.Issuer},
		Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now),
		ClientID: c.ClientID, Scope: scope,
	}
	if g != nil {
		at.Subject = p.subjectFor(c, g.ResidentID)
		at.ID = g.ID + "." + secret.Random(12)
		at.AuthTime = jwt.NewNumericDate(g.AuthTime)
		at.ACR, at.AMR = g.ACR, g.AMR
	} else {
		// RFC 9068 §2.2: no resource owner, the subject is the client.
		at.Subject = c.ClientID
		at.ID = ccPrefix + "." + secret.Random(12)
	}
	tok, err := p.Keys.SignJSON(ctx, accessTokenAlg, typAccessToken, at)
	return tok, exp, err
}

// idTokenAlg is the client's id_token_signed_response_alg (default ES256).
func idTokenAlg(c client.Client) jose.SignatureAlgorithm {
	if c.IDTokenSignedResponseAlg != "" {
		return jose.SignatureAlgorithm(c.IDTokenSignedResponseAlg)
	}
	return defaultIDTokenAlg
}

// mintIDToken signs an ID token (OIDC Core §2, §3.1.3.6) for a grant.
// accessToken, if set, adds at_hash; nonce is only set for the code
// exchange (a refreshed ID token carries none, OIDC Core §12.2).
func (p *Provider) mintIDToken(ctx context.Context, c client.Client, g grant.Grant, nonce, accessToken string) (string, error) {
	now := p.now()
	alg := idTokenAlg(c)
	out := map[string]any{
		"iss":       p.opts.Issuer,
		"sub":       p.subjectFor(c, g.ResidentID),
		"aud":       c.ClientID,
		"exp":       now.Add(p.opts.IDTokenLifetime).Unix(),
		"iat":       now.Unix(),
		"auth_time": g.AuthTime.Unix(),
		"acr":       g.ACR,
		"amr":       g.AMR,
		"sid":       p.sidFor(c, g.SessionID),
	}
	if nonce != "" {
		out["nonce"] = nonce
	}
	if accessToken != "" {
		out["at_hash"] = halfHash(alg, accessToken)
	}
	gc, err := decodeGrantClaims(g)
	if err != nil {
		return "", err
	}
	var names []string
	for _, it := range gc.Items {
		if it.IDToken {
			names = append(names, it.Name)
		}
	}
	if len(names) > 0 {
		resident, err := p.Accounts.Get(ctx, g.ResidentID)
		if err != nil {
			return "", err
		}
		for k, v := range claims.Values(resident, gc.Locale, names) {
			out[k] = v
		}
		rel, err := p.releaseVault(ctx, c, g, gc.Items, gc.Locale, func(it claims.Item) bool { return it.IDToken })
		if err != nil {
			return "", err
		}
		for k, v := range rel.claims {
			out[k] = v
		}
	}
	return p.Keys.SignJSON(ctx, alg, "JWT", out)
}

// userinfoClaims are the claims userinfo returns for a grant: register
// claims and, recorded in the access log, vault claims.
func (p *Provider) userinfoClaims(ctx context.Context, c client.Client, g grant.Grant, resident account.Resident) (map[string]any, error) {
	gc, err := decodeGrantClaims(g)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, it := range gc.Items {
		if it.UserInfo {
			names = append(names, it.Name)
		}
	}
	out := claims.Values(resident, gc.Locale, names)
	if out == nil {
		out = map[string]any{}
	}
	rel, err := p.releaseVault(ctx, c, g, gc.Items, gc.Locale, func(it claims.Item) bool { return it.UserInfo })
	if err != nil {
		return nil, err
	}
	for k, v := range rel.claims {
		out[k] = v
	}
	out["sub"] = p.subjectFor(c, g.ResidentID)
	return out, nil
}

func decodeGrantClaims(g grant.Grant) (grantClaims, error) {
	var gc grantClaims
	if len(g.Claims) == 0 {
		return gc, nil
	}
	if err := json.Unmarshal(g.Claims, &gc); err != nil {
		return gc, fmt.Errorf("provider: grant %s claims: %w", g.ID, err)
	}
	return gc, nil
}

// halfHash is at_hash (OIDC Core §3.1.3.6): the left half of the hash of
// the ASCII token, with the hash of the ID token's algorithm, base64url.
func halfHash(alg jose.SignatureAlgorithm, token string) string {
	// Every algorithm we sign ID tokens with (ES256, RS256, PS256) uses SHA-256.
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

var ourAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256}

// verifyOwn checks a JWS we signed: a published key by kid, one of our
// algorithms, and the typ header wanted ("" accepts any). It returns the
// payload; the caller checks the claims.
func (p *Provider) verifyOwn(ctx context.Context, token, typ string) ([]byte, error) {
	obj, err := jose.ParseSigned(token, ourAlgs)
	if err != nil || len(obj.Signatures) != 1 {
		return nil, errInvalidToken
	}
	h := obj.Signatures[0].Header
	if typ != "" {
		if t, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(t, typ) && !strings.EqualFold(t, "application/"+typ) {
			return nil, errInvalidToken
		}
	}
	set, err := p.Keys.Published(ctx)
	if err != nil {
		return nil, err
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, errInvalidToken
	}
	payload, err := obj.Verify(keys[0].Key)
	if err != nil {
		return nil, errInvalidToken
	}
	return payload, nil
}

// parseAccessToken verifies one of our access tokens: signature, typ,
// issuer, audience, expiry; then that it was not revoked and, for a
// resident's token, that its grant is still active.
func (p *Provider) parseAccessToken(ctx context.Context, token string) (accessClaims, *grant.Grant, error) {
	var at accessClaims
	if strings.Count(token, ".") != 2 {
		return at, nil, errInvalidToken
	}
	payload, err := p.verifyOwn(ctx, token, typAccessToken)
	if err != nil {
		return at, nil, err
	}
	if err := json.Unmarshal(payload, &at); err != nil {
		return at, nil, errInvalidToken
	}
	now := p.now()
	if at.Issuer != p.opts.Issuer || !at.Audience.Contains(p.opts.Issuer) || at.Expiry == nil ||
		!now.Before(at.Expiry.Time()) || at.ID == "" || at.ClientID == "" {
		return at, nil, errInvalidToken
	}
	revoked, err := p.Grants.AccessTokenRevoked(ctx, at.ID)
	if err != nil {
		return at, nil, err
	}
	if revoked {
		return at, nil, errInvalidToken
	}
	gid := at.grantID()
	if gid == "" {
		return at, nil, nil
	}
	g, err := p.Grants.Active(ctx, gid)
	if errors.Is(err, grant.ErrNotFound) || errors.Is(err, grant.ErrRevoked) || errors.Is(err, grant.ErrExpired) {
		return at, nil, errInvalidToken
	}
	if err != nil {
		return at, nil, err
	}
	if g.ClientID != at.ClientID {
		return at, nil, errInvalidToken
	}
	return at, &g, nil
}
