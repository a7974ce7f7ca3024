package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	"eidp/bench/loadgen"
)

// userinfo is one UserInfo request per iteration (OpenID Connect Core
// §5.3): GET with the access token as a Bearer token (RFC 6750 §2.1).
type userinfo struct {
	base
	tokens *accessTokens
}

// NewUserinfo is the userinfo scenario. The access tokens come from
// cfg.AccessTokens — a resident's, since eidp, like most OpenID Providers,
// serves userinfo only for a token issued to a user — or, when there are
// none, from the client credentials grant (for servers that allow it).
func NewUserinfo(cfg Config) (loadgen.Scenario, error) {
	auth, err := newClientAuth(cfg)
	if err != nil && len(cfg.AccessTokens) == 0 {
		return nil, err
	}
	if len(cfg.AccessTokens) == 0 && auth.method == authNone {
		return nil, fmt.Errorf("%w: userinfo needs an access token: -token or -token-file (or client credentials to obtain one)", ErrConfig)
	}
	s := &userinfo{base: base{name: "userinfo", cfg: cfg, auth: auth}}
	s.tokens = &accessTokens{given: cfg.AccessTokens, b: &s.base}
	return s, nil
}

func (s *userinfo) Setup(ctx context.Context, env *loadgen.Env) error {
	need := []string{"userinfo"}
	if len(s.tokens.given) == 0 {
		need = append(need, "token")
	}
	if err := s.setup(ctx, env, need...); err != nil {
		return err
	}
	if len(s.tokens.given) > 0 {
		return nil
	}
	token, err := s.tokens.obtain(ctx, env.Client)
	if err != nil {
		return fmt.Errorf("obtaining an access token with the client credentials grant: %w", err)
	}
	if _, err := s.request(ctx, env.Client, token); err != nil {
		return fmt.Errorf("%w: the server refused userinfo for a client-credentials token (%w): give a user's access token with -token or -token-file", ErrConfig, err)
	}
	return nil
}

func (s *userinfo) Do(ctx context.Context, w *loadgen.Worker) error {
	token, err := s.tokens.get(ctx, w)
	if err != nil {
		return err
	}
	sub, err := s.request(ctx, w.Client, token)
	if err != nil {
		return err
	}
	// The same token names the same user on every call.
	if first, ok := w.State.(string); ok && len(s.tokens.given) > 0 && first != sub {
		return loadgen.Fail(KindClaims, "userinfo sub changed from %q to %q for the same access token", first, sub)
	}
	w.State = sub
	return nil
}

// request makes one UserInfo request and returns the sub. The answer is
// JSON, or a JWT (application/jwt) when the client registered signed
// responses, verified against the JWKS (OpenID Connect Core §5.3.2).
func (s *userinfo) request(ctx context.Context, c *http.Client, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ep.userinfo, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json, application/jwt")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer drain(resp.Body)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", err
	}
	loadgen.Responded(ctx)
	if resp.StatusCode != http.StatusOK {
		return "", statusFailure("userinfo", resp.StatusCode, body)
	}
	var sub string
	switch mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt {
	case "application/json":
		var claims map[string]any
		if err := json.Unmarshal(body, &claims); err != nil {
			return "", loadgen.Fail(KindBody, "userinfo: the body is not a JSON object: %v", err)
		}
		sub, _ = claims["sub"].(string)
	case "application/jwt":
		claims, err := verifyJWT(ctx, s.keys, s.ep.issuer, string(body), "the signed userinfo response")
		if err != nil {
			return "", err
		}
		sub = claims.Subject
	default:
		return "", loadgen.Fail(KindBody, "userinfo: content type %q, want application/json or application/jwt", resp.Header.Get("Content-Type"))
	}
	if sub == "" {
		return "", loadgen.Fail(KindClaims, "userinfo has no sub (OpenID Connect Core §5.3.2: always returned)")
	}
	return sub, nil
}
