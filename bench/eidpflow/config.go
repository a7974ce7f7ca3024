package eidpflow

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"eidp/bench/loadgen"
	"eidp/bench/oauth"
	"eidp/bench/seed/population"
)

// Scenario names, as given to -scenario.
const (
	ScenarioLoginFlow    = "login-flow"
	ScenarioVaultRelease = "vault-release"
)

// DefaultRedirectURI is the bench client's redirect URI (bench/seed's
// BenchRedirectURI): codes are read from the redirect, never delivered.
const DefaultRedirectURI = "http://127.0.0.1:9/cb"

// Scopes the scenarios ask for; the seeded consent covers both
// (bench/seed's LoginScopes and VaultScopes).
const (
	LoginScope = "openid profile"
	VaultScope = "openid profile address phone email eidp:occupation eidp:emergency_contact"
)

// ErrConfig is returned for a configuration a scenario cannot run with.
var ErrConfig = errors.New("eidpflow: incomplete configuration")

// LoginFlowConfig configures both scenarios.
type LoginFlowConfig struct {
	// Issuer is eidp's issuer URL; endpoints come from its discovery
	// document, and its origin is the WebAuthn origin the assertions are
	// made for.
	Issuer string
	// ClientID and ClientSecret are the bench client's
	// (client_secret_basic), as `eidp dev seed` printed them. No secret:
	// the client is public (token_endpoint_auth_method none, RFC 6749
	// §2.1), and client_id goes in the PAR and token request bodies
	// instead (RFC 6749 §4.1.3, RFC 9126 §2.1); PKCE is used either way.
	ClientID, ClientSecret string
	// KeySeed is the population's key seed (`eidp dev seed --key-seed`).
	KeySeed []byte
	// Residents is how many residents the iterations go round, starting at
	// FirstResident: residents FirstResident … FirstResident+Residents-1
	// must have been seeded.
	Residents, FirstResident int
	// RedirectURI is the client's registered redirect URI (default
	// DefaultRedirectURI).
	RedirectURI string
}

func (c *LoginFlowConfig) check() error {
	var missing []string
	if c.Issuer == "" {
		missing = append(missing, "-issuer")
	}
	if c.ClientID == "" {
		missing = append(missing, "-client-id")
	}
	if len(c.KeySeed) == 0 {
		missing = append(missing, "-key-seed")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: give %s", ErrConfig, strings.Join(missing, ", "))
	}
	if len(c.KeySeed) < population.MinKeySeedBytes {
		return fmt.Errorf("%w: %w", ErrConfig, population.ErrKeySeed)
	}
	if c.Residents < 1 || c.FirstResident < 0 {
		return fmt.Errorf("%w: -residents must be at least 1 and -first-resident not negative", ErrConfig)
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: -issuer %q is not an http(s) URL", ErrConfig, c.Issuer)
	}
	if c.RedirectURI == "" {
		c.RedirectURI = DefaultRedirectURI
	}
	return nil
}

// flagValues are bound to the command's flags by init; -issuer,
// -client-id and -client-secret(-file) are bench/oauth's.
var flagValues struct {
	keySeed                  string
	residents, firstResident int
	redirectURI              string
}

func init() {
	loadgen.RegisterFlags(func(fs *flag.FlagSet) {
		fs.StringVar(&flagValues.keySeed, "key-seed", "", "login-flow, vault-release: the population's hex key seed (as given to `eidp dev seed`)")
		fs.IntVar(&flagValues.residents, "residents", 0, "login-flow, vault-release: how many seeded residents the iterations go round")
		fs.IntVar(&flagValues.firstResident, "first-resident", 0, "login-flow, vault-release: index of the first resident used")
		fs.StringVar(&flagValues.redirectURI, "redirect-uri", DefaultRedirectURI, "login-flow, vault-release: the client's registered redirect URI")
	})
	loadgen.Register(ScenarioLoginFlow,
		"a seeded resident logs in without a browser: PAR, authorize, passkey, code, token, ID token, userinfo (eidp)",
		func() (loadgen.Scenario, error) {
			cfg, err := flagConfig()
			if err != nil {
				return nil, err
			}
			return NewLoginFlow(cfg)
		})
	loadgen.Register(ScenarioVaultRelease,
		"userinfo releasing five vault claims, with residents' tokens from one login per worker (eidp)",
		func() (loadgen.Scenario, error) {
			cfg, err := flagConfig()
			if err != nil {
				return nil, err
			}
			return NewVaultRelease(cfg)
		})
}

func flagConfig() (LoginFlowConfig, error) {
	oc, err := oauth.FlagConfig()
	if err != nil {
		return LoginFlowConfig{}, err
	}
	cfg := LoginFlowConfig{Issuer: oc.Issuer, ClientID: oc.ClientID, ClientSecret: oc.ClientSecret,
		Residents: flagValues.residents, FirstResident: flagValues.firstResident, RedirectURI: flagValues.redirectURI}
	if flagValues.keySeed != "" {
		if cfg.KeySeed, err = population.ParseKeySeed(flagValues.keySeed); err != nil {
			return cfg, fmt.Errorf("%w: -key-seed: %w", ErrConfig, err)
		}
	}
	return cfg, nil
}
