package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"

	"eidp/bench/loadgen"
)

// refresh is one refresh token grant per iteration (RFC 6749 §6). When the
// server rotates refresh tokens (RFC 9700 §4.14.2), each worker keeps the
// one it was given last.
type refresh struct {
	base
	tokens  []string
	grants  atomic.Int64 // successful grants, warm-up included
	rotated atomic.Int64 // of which answered with a new refresh token
}

// NewRefresh is the refresh scenario. Client authentication is
// private_key_jwt when cfg.PrivateKeyFile is set, client_secret_basic when
// cfg.ClientSecret is, none (a public client) otherwise.
func NewRefresh(cfg Config) (loadgen.Scenario, error) {
	if len(cfg.RefreshTokens) == 0 {
		return nil, fmt.Errorf("%w: refresh needs refresh tokens: -refresh-token or -refresh-token-file", ErrConfig)
	}
	auth, err := newClientAuth(cfg)
	if err != nil {
		return nil, err
	}
	return &refresh{base: base{name: "refresh", cfg: cfg, auth: auth}, tokens: append([]string(nil), cfg.RefreshTokens...)}, nil
}

// Setup finds the endpoints and makes sure every worker will hold a usable
// token: several tokens must be at least one per worker; one token shared
// by several workers is tried once, and refused if the server rotates it.
func (s *refresh) Setup(ctx context.Context, env *loadgen.Env) error {
	if err := s.setup(ctx, env, "token"); err != nil {
		return err
	}
	switch {
	case len(s.tokens) > 1 && len(s.tokens) < env.Workers:
		return fmt.Errorf("%w: %d refresh tokens for %d workers: give one per worker (or a single one, if the server does not rotate them)", ErrConfig, len(s.tokens), env.Workers)
	case len(s.tokens) == 1 && env.Workers > 1:
		tr, err := s.grant(ctx, env.Client, s.tokens[0])
		if err != nil {
			return fmt.Errorf("the first refresh failed: %w", err)
		}
		if tr.RefreshToken != "" && tr.RefreshToken != s.tokens[0] {
			return fmt.Errorf("%w: the server rotates refresh tokens, so %d workers cannot share one: give at least %d with -refresh-token-file (this one is now spent)", ErrConfig, env.Workers, env.Workers)
		}
	}
	return nil
}

func (s *refresh) grant(ctx context.Context, c *http.Client, token string) (tokenResponse, error) {
	return s.requestToken(ctx, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
}

func (s *refresh) Do(ctx context.Context, w *loadgen.Worker) error {
	held, ok := w.State.(*string)
	if !ok {
		t := s.tokens[w.ID%len(s.tokens)]
		held = &t
		w.State = held
	}
	tr, err := s.grant(ctx, w.Client, *held)
	if err != nil {
		return err
	}
	s.grants.Add(1)
	if tr.RefreshToken != "" && tr.RefreshToken != *held {
		*held = tr.RefreshToken
		s.rotated.Add(1)
	}
	return nil
}

// Notes implements loadgen.Noter: whether the server rotated the tokens,
// so that a run says which kind of refresh it measured.
func (s *refresh) Notes() []string {
	return []string{fmt.Sprintf("%d refresh grants (warm-up included), %d answered with a new refresh token (rotation)", s.grants.Load(), s.rotated.Load())}
}
