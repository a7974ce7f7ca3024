package oauth

import (
	"context"
	"fmt"
	"net/url"

	"eidp/bench/loadgen"
)

// clientCredentials is one client credentials grant per iteration (RFC 6749
// §4.4), with client_secret_basic or private_key_jwt.
type clientCredentials struct{ base }

// NewClientCredentials is the client-credentials scenario: client_secret_basic
// (RFC 6749 §2.3.1) with cfg.ClientID and cfg.ClientSecret.
func NewClientCredentials(cfg Config) (loadgen.Scenario, error) {
	if cfg.ClientSecret == "" {
		return nil, fmt.Errorf("%w: client-credentials authenticates with client_secret_basic: give -client-secret (or use client-credentials-jwt with -key)", ErrConfig)
	}
	cfg.PrivateKeyFile = ""
	return newClientCredentials("client-credentials", cfg)
}

// NewClientCredentialsJWT is the client-credentials-jwt scenario:
// private_key_jwt (RFC 7523 §2.2) with a fresh assertion per request, signed
// with the key in cfg.PrivateKeyFile.
func NewClientCredentialsJWT(cfg Config) (loadgen.Scenario, error) {
	if cfg.PrivateKeyFile == "" {
		return nil, fmt.Errorf("%w: client-credentials-jwt needs the client's private key: give -key (and -key-id)", ErrConfig)
	}
	cfg.ClientSecret = ""
	return newClientCredentials("client-credentials-jwt", cfg)
}

func newClientCredentials(name string, cfg Config) (*clientCredentials, error) {
	auth, err := newClientAuth(cfg)
	if err != nil {
		return nil, err
	}
	return &clientCredentials{base{name: name, cfg: cfg, auth: auth}}, nil
}

func (s *clientCredentials) Setup(ctx context.Context, env *loadgen.Env) error {
	return s.setup(ctx, env, "token")
}

func (s *clientCredentials) Do(ctx context.Context, w *loadgen.Worker) error {
	form := url.Values{"grant_type": {"client_credentials"}}
	if s.cfg.Scope != "" {
		form.Set("scope", s.cfg.Scope)
	}
	_, err := s.requestToken(ctx, w.Client, form)
	return err
}
