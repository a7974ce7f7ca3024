package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"eidp/bench/loadgen"
)

// introspection is one token introspection per iteration (RFC 7662 §2):
// POST token=… with the client's authentication; the answer must say
// active: true.
type introspection struct {
	base
	tokens *accessTokens
}

// NewIntrospection is the introspection scenario. The client authenticates
// with private_key_jwt (cfg.PrivateKeyFile) or client_secret_basic
// (cfg.ClientSecret); the tokens introspected are cfg.AccessTokens or, when
// there are none, one the client obtains with the client credentials grant
// (and obtains again at half its lifetime).
func NewIntrospection(cfg Config) (loadgen.Scenario, error) {
	auth, err := newClientAuth(cfg)
	if err != nil {
		return nil, err
	}
	if auth.method == authNone {
		return nil, fmt.Errorf("%w: introspection needs client authentication (RFC 7662 §2.1): give -client-secret or -key", ErrConfig)
	}
	s := &introspection{base: base{name: "introspection", cfg: cfg, auth: auth}}
	s.tokens = &accessTokens{given: cfg.AccessTokens, b: &s.base}
	return s, nil
}

func (s *introspection) Setup(ctx context.Context, env *loadgen.Env) error {
	need := []string{"introspection"}
	if len(s.tokens.given) == 0 {
		need = append(need, "token")
	}
	if err := s.setup(ctx, env, need...); err != nil {
		return err
	}
	if len(s.tokens.given) == 0 {
		if _, err := s.tokens.obtain(ctx, env.Client); err != nil {
			return fmt.Errorf("obtaining an access token to introspect: %w", err)
		}
	}
	return nil
}

func (s *introspection) Do(ctx context.Context, w *loadgen.Worker) error {
	token, err := s.tokens.get(ctx, w)
	if err != nil {
		return err
	}
	return s.introspect(ctx, w.Client, token)
}

func (s *introspection) introspect(ctx context.Context, c *http.Client, token string) error {
	aud := s.ep.token // RFC 7523 §3: the token endpoint names the server
	if aud == "" {
		aud = s.ep.introspection
	}
	resp, err := s.auth.post(ctx, c, s.ep.introspection, aud, url.Values{"token": {token}, "token_type_hint": {"access_token"}})
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	var answer struct {
		Active *bool  `json:"active"`
		Exp    *int64 `json:"exp"`
	}
	if err := readJSON(resp, "introspection", &answer); err != nil {
		return err
	}
	loadgen.Responded(ctx)
	// RFC 7662 §2.2: active is REQUIRED and a boolean.
	if answer.Active == nil || !*answer.Active {
		return loadgen.Fail(KindInactive, "introspection says the token is not active")
	}
	if answer.Exp != nil && time.Unix(*answer.Exp, 0).Before(time.Now().Add(-leeway)) {
		return loadgen.Fail(KindClaims, "introspection says active but exp is %s", time.Unix(*answer.Exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}
