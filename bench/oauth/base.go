package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"eidp/bench/loadgen"
)

// base is what every scenario here shares: the configuration, the client's
// authentication, the endpoints found in Setup, the server's JWKS.
type base struct {
	name  string
	cfg   Config
	auth  *clientAuth
	ep    endpoints
	keys  *keySet // nil when the server publishes no jwks_uri
	kinds tokenKinds
}

func (b *base) Name() string { return b.name }

// Notes says how many access tokens were JWTs and how many opaque.
func (b *base) Notes() []string { return b.kinds.notes() }

// setup resolves the endpoints (failing when one of need is unknown) and
// fetches the JWKS when there is one.
func (b *base) setup(ctx context.Context, env *loadgen.Env, need ...string) error {
	ep, err := discover(ctx, env.Client, b.cfg)
	if err != nil {
		return err
	}
	for _, n := range need {
		have := map[string]string{"token": ep.token, "introspection": ep.introspection, "userinfo": ep.userinfo}[n]
		if have == "" {
			return fmt.Errorf("%w: no %s endpoint: give -issuer (discovery) or -%s-endpoint", ErrConfig, n, n)
		}
	}
	b.ep = ep
	if ep.jwks != "" {
		b.keys = &keySet{uri: ep.jwks, client: env.Client}
		if err := b.keys.fetch(ctx); err != nil {
			return fmt.Errorf("fetching the JWKS: %w", err)
		}
	}
	return nil
}

// tokenResponse is a successful token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	RefreshToken string          `json:"refresh_token"`
}

// requestToken posts a grant to the token endpoint and checks the answer.
func (b *base) requestToken(ctx context.Context, c *http.Client, form url.Values) (tokenResponse, error) {
	var tr tokenResponse
	resp, err := b.auth.post(ctx, c, b.ep.token, b.ep.token, form)
	if err != nil {
		return tr, err
	}
	defer drain(resp.Body)
	if err := readJSON(resp, "token endpoint", &tr); err != nil {
		return tr, err
	}
	loadgen.Responded(ctx)
	return tr, b.checkTokenResponse(ctx, tr)
}

// checkTokenResponse: RFC 6749 §5.1 — access_token and token_type
// required, token_type Bearer (RFC 6750 §4, case-insensitive), expires_in a
// positive number — and the access token itself.
func (b *base) checkTokenResponse(ctx context.Context, tr tokenResponse) error {
	if tr.AccessToken == "" {
		return loadgen.Fail(KindTokenFormat, "the token response has no access_token")
	}
	if !strings.EqualFold(tr.TokenType, "Bearer") {
		return loadgen.Fail(KindTokenFormat, "token_type %q, want Bearer", tr.TokenType)
	}
	if len(tr.ExpiresIn) == 0 {
		return loadgen.Fail(KindTokenFormat, "the token response has no expires_in")
	}
	if n, err := strconv.ParseFloat(string(tr.ExpiresIn), 64); err != nil || n <= 0 {
		return loadgen.Fail(KindTokenFormat, "expires_in %s, want a positive number", tr.ExpiresIn)
	}
	return b.checkAccessToken(ctx, tr.AccessToken)
}

// checkAccessToken verifies an access token that is a JWT (RFC 9068):
// signature, exp, iat, nbf, iss, and client_id or azp when present. An
// opaque token is counted and accepted: only its server can check it.
func (b *base) checkAccessToken(ctx context.Context, token string) error {
	if !looksLikeJWT(token) {
		b.kinds.opaque.Add(1)
		return nil
	}
	b.kinds.jwt.Add(1)
	claims, err := verifyJWT(ctx, b.keys, b.ep.issuer, token, "the access token")
	if err != nil {
		return err
	}
	if claims.ClientID != "" && claims.ClientID != b.cfg.ClientID {
		return loadgen.Fail(KindClaims, "the access token's client_id is %q, want %q", claims.ClientID, b.cfg.ClientID)
	}
	if claims.AZP != "" && claims.AZP != b.cfg.ClientID {
		return loadgen.Fail(KindClaims, "the access token's azp is %q, want %q", claims.AZP, b.cfg.ClientID)
	}
	return nil
}

// accessTokens hands workers an access token: one of those given (worker i
// takes given[i % len]), or one obtained with the client credentials grant
// and obtained again at half its lifetime.
type accessTokens struct {
	given []string
	b     *base

	mu      sync.RWMutex
	current string
	renewAt time.Time
}

func (a *accessTokens) get(ctx context.Context, w *loadgen.Worker) (string, error) {
	if len(a.given) > 0 {
		return a.given[w.ID%len(a.given)], nil
	}
	a.mu.RLock()
	current, fresh := a.current, time.Now().Before(a.renewAt)
	a.mu.RUnlock()
	if current != "" && fresh {
		return current, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current != "" && time.Now().Before(a.renewAt) {
		return a.current, nil // another worker renewed it
	}
	return a.obtain(ctx, w.Client)
}

// obtain gets a token with the client credentials grant; a.mu is held or
// the workers are not running yet.
func (a *accessTokens) obtain(ctx context.Context, c *http.Client) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if a.b.cfg.Scope != "" {
		form.Set("scope", a.b.cfg.Scope)
	}
	tr, err := a.b.requestToken(ctx, c, form)
	if err != nil {
		return "", err
	}
	life, _ := strconv.ParseFloat(string(tr.ExpiresIn), 64)
	a.current, a.renewAt = tr.AccessToken, time.Now().Add(time.Duration(life*float64(time.Second))/2)
	return a.current, nil
}
