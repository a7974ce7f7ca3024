package eidpflow

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"

	"eidp/bench/loadgen"
)

// LoginFlow is the login-flow scenario: each iteration one seeded
// resident logs in through the whole flow (see flow.login).
type LoginFlow struct {
	f      *flow
	next   atomic.Int64 // iterations begun, over all workers
	logins atomic.Int64
	// onLogin, if set (tests), sees every successful login.
	onLogin func(index int, l login)
}

// NewLoginFlow returns the login-flow scenario.
func NewLoginFlow(cfg LoginFlowConfig) (loadgen.Scenario, error) {
	f, err := newFlow(cfg)
	if err != nil {
		return nil, err
	}
	return &LoginFlow{f: f}, nil
}

// Name implements loadgen.Scenario.
func (s *LoginFlow) Name() string { return ScenarioLoginFlow }

// Setup implements loadgen.Scenario: discovery and the JWKS.
func (s *LoginFlow) Setup(ctx context.Context, env *loadgen.Env) error {
	return s.f.setup(ctx, env.Client)
}

// Do implements loadgen.Scenario. The n-th iteration begun (by any
// worker) logs in resident FirstResident + n mod Residents: round-robin,
// so concurrent workers log in different residents and every resident
// comes round equally often.
func (s *LoginFlow) Do(ctx context.Context, w *loadgen.Worker) error {
	index := s.f.cfg.FirstResident + int((s.next.Add(1)-1)%int64(s.f.cfg.Residents))
	l, err := s.f.login(ctx, w.Client, index, LoginScope, func() { loadgen.Responded(ctx) })
	if err != nil {
		return err
	}
	s.logins.Add(1)
	if s.onLogin != nil {
		s.onLogin(index, l)
	}
	return nil
}

// Notes implements loadgen.Noter.
func (s *LoginFlow) Notes() []string {
	return []string{fmt.Sprintf("%d logins of residents %d … %d (passkey assertion, code, token, ID token verified, userinfo)",
		s.logins.Load(), s.f.cfg.FirstResident, s.f.cfg.FirstResident+s.f.cfg.Residents-1)}
}

// VaultRelease is the vault-release scenario: UserInfo releasing five
// vault claims, with access tokens from one login per worker in Setup.
// The tokens live access_token_lifetime (10 minutes by default): longer
// runs fail with status 401.
type VaultRelease struct {
	f      *flow
	tokens []session // by worker
}

type session struct {
	accessToken, sub string
}

// NewVaultRelease returns the vault-release scenario.
func NewVaultRelease(cfg LoginFlowConfig) (loadgen.Scenario, error) {
	f, err := newFlow(cfg)
	if err != nil {
		return nil, err
	}
	return &VaultRelease{f: f}, nil
}

// Name implements loadgen.Scenario.
func (s *VaultRelease) Name() string { return ScenarioVaultRelease }

// Setup implements loadgen.Scenario: discovery, the JWKS, and one login
// with the vault scopes per worker, worker i as resident FirstResident + i
// mod Residents.
func (s *VaultRelease) Setup(ctx context.Context, env *loadgen.Env) error {
	if err := s.f.setup(ctx, env.Client); err != nil {
		return err
	}
	s.tokens = make([]session, max(env.Workers, 1))
	for i := range s.tokens {
		index := s.f.cfg.FirstResident + i%s.f.cfg.Residents
		l, err := s.f.login(ctx, env.Client, index, VaultScope, nil)
		if err != nil {
			return fmt.Errorf("logging in resident %d for worker %d: %w", index, i, err)
		}
		if err := checkVaultClaims(l.userinfo); err != nil {
			return fmt.Errorf("resident %d: %w (seed with --vault)", index, err)
		}
		s.tokens[i] = session{accessToken: l.accessToken, sub: l.claims.Subject}
	}
	return nil
}

// Do implements loadgen.Scenario.
func (s *VaultRelease) Do(ctx context.Context, w *loadgen.Worker) error {
	t := s.tokens[w.ID%len(s.tokens)]
	claims, err := s.f.userinfo(ctx, w.Client, t.accessToken)
	loadgen.Responded(ctx)
	if err != nil {
		return err
	}
	if claims["sub"] != t.sub {
		return loadgen.Fail(KindUserinfo, "userinfo's sub is not the one of the worker's ID token")
	}
	return checkVaultClaims(claims)
}

var (
	e164      = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	emailLike = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// checkVaultClaims checks the five vault claims the seeded consent
// releases, with the shapes vault/attr gives them: the address as an OIDC
// Core §5.1.1 Address Claim, the mobile in E.164 with
// phone_number_verified, the email with email_verified, the occupation
// as text, the emergency contact as {name, relationship, phone}.
func checkVaultClaims(c map[string]any) error {
	fail := func(format string, args ...any) error { return loadgen.Fail(KindVaultClaims, format, args...) }
	str := func(v any) string { s, _ := v.(string); return strings.TrimSpace(s) }
	addr, ok := c["address"].(map[string]any)
	if !ok || str(addr["formatted"]) == "" || addr["country"] != "HK" || str(addr["locality"]) == "" {
		return fail("address is missing or not an Address Claim with formatted, locality and country HK")
	}
	if !e164.MatchString(str(c["phone_number"])) {
		return fail("phone_number is missing or not E.164")
	}
	if _, ok := c["phone_number_verified"].(bool); !ok {
		return fail("phone_number_verified is missing or not a boolean")
	}
	if !emailLike.MatchString(str(c["email"])) {
		return fail("email is missing or not an address")
	}
	if _, ok := c["email_verified"].(bool); !ok {
		return fail("email_verified is missing or not a boolean")
	}
	if str(c["eidp_occupation"]) == "" {
		return fail("eidp_occupation is missing or empty")
	}
	ec, ok := c["eidp_emergency_contact"].(map[string]any)
	if !ok || str(ec["name"]) == "" || str(ec["relationship"]) == "" || !e164.MatchString(str(ec["phone"])) {
		return fail("eidp_emergency_contact is missing or not {name, relationship, phone in E.164}")
	}
	return nil
}
