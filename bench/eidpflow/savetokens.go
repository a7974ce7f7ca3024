package eidpflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"eidp/bench/loadgen"
)

// ScenarioLoginTokens is login-flow that also writes each login's tokens
// to a file, for the refresh and userinfo scenarios of bench/oauth.
const ScenarioLoginTokens = "login-tokens"

// SavedLogin is one line of the -save-tokens file: what one successful
// login's token response gave (RFC 6749 §5.1), with the resident and the
// ID token's subject. RefreshToken is empty when the client has not the
// refresh_token grant (eidp issues refresh tokens only to clients that
// have it). The file holds live credentials: it is created 0600.
type SavedLogin struct {
	Resident     int    `json:"resident"`
	Subject      string `json:"sub"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
}

// LoginTokens is the login-tokens scenario: login-flow's iteration (same
// residents, round-robin, same checks), and each successful login — warm-up
// included: its tokens are as good — appended to a file as one JSON line
// (SavedLogin), whole lines only, from any number of workers. Extract a
// column for bench/oauth with jq:
//
//	jq -r .access_token tokens.jsonl >access.txt    # userinfo -token-file
//	jq -r .refresh_token tokens.jsonl >refresh.txt  # refresh -refresh-token-file
//
// The refresh token is read from the token response as the flow received
// it (flow.login keeps only the access and ID tokens).
type LoginTokens struct {
	lf   *LoginFlow
	path string

	mu   sync.Mutex // one line at a time
	out  *os.File
	with atomic.Int64 // saved logins that had a refresh token
}

// ErrSaveTokens is returned when the tokens file cannot be written.
var ErrSaveTokens = errors.New("eidpflow: saving tokens")

// NewLoginTokens returns the login-tokens scenario, writing to path
// (created, or truncated, in Setup).
func NewLoginTokens(cfg LoginFlowConfig, path string) (*LoginTokens, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: %s needs -save-tokens FILE", ErrConfig, ScenarioLoginTokens)
	}
	f, err := newFlow(cfg)
	if err != nil {
		return nil, err
	}
	return &LoginTokens{lf: &LoginFlow{f: f}, path: path}, nil
}

var flagSaveTokens string

func init() {
	loadgen.RegisterFlags(func(fs *flag.FlagSet) {
		fs.StringVar(&flagSaveTokens, "save-tokens", "", "login-tokens: file to write one JSON line per login to (access_token, refresh_token, resident, sub); created 0600, truncated")
	})
	loadgen.Register(ScenarioLoginTokens,
		"login-flow, and each login's access and refresh tokens saved to -save-tokens FILE (eidp)",
		func() (loadgen.Scenario, error) {
			cfg, err := flagConfig()
			if err != nil {
				return nil, err
			}
			return NewLoginTokens(cfg, flagSaveTokens)
		})
}

// Name implements loadgen.Scenario.
func (s *LoginTokens) Name() string { return ScenarioLoginTokens }

// Setup implements loadgen.Scenario: login-flow's, then the file.
func (s *LoginTokens) Setup(ctx context.Context, env *loadgen.Env) error {
	if err := s.lf.Setup(ctx, env); err != nil {
		return err
	}
	out, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSaveTokens, err)
	}
	s.out = out
	return nil
}

// Do implements loadgen.Scenario: one login, its tokens saved.
func (s *LoginTokens) Do(ctx context.Context, w *loadgen.Worker) error {
	tap := &tokenTap{next: w.Client.Transport, endpoint: s.lf.f.ep.token}
	tapped := *w
	tapped.Client = &http.Client{Transport: tap, Timeout: w.Client.Timeout, CheckRedirect: w.Client.CheckRedirect}
	index := s.lf.f.cfg.FirstResident + int((s.lf.next.Add(1)-1)%int64(s.lf.f.cfg.Residents))
	l, err := s.lf.f.login(ctx, tapped.Client, index, LoginScope, func() { loadgen.Responded(ctx) })
	if err != nil {
		return err
	}
	s.lf.logins.Add(1)
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	// The flow has checked the response; this reads it again for the
	// refresh token and makes sure it is the response the flow used.
	if tap.body == nil || json.Unmarshal(tap.body, &tr) != nil || tr.AccessToken != l.accessToken {
		return loadgen.Fail(KindToken, "token: the token response seen is not the one the login used")
	}
	line, err := json.Marshal(SavedLogin{Resident: index, Subject: l.claims.Subject,
		AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, ExpiresIn: tr.ExpiresIn})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSaveTokens, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return fmt.Errorf("%w: the file is closed", ErrSaveTokens)
	}
	// One write per line, unbuffered: concurrent workers never interleave,
	// and the file is complete whenever the run stops.
	if _, err := s.out.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%w: %w", ErrSaveTokens, err)
	}
	if tr.RefreshToken != "" {
		s.with.Add(1)
	}
	return nil
}

// Close closes the file; the command calls it after the run.
func (s *LoginTokens) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return nil
	}
	err := s.out.Close()
	s.out = nil
	return err
}

// Notes implements loadgen.Noter: login-flow's note, and how many logins
// were saved with a refresh token.
func (s *LoginTokens) Notes() []string {
	saved := s.lf.logins.Load()
	note := fmt.Sprintf("%d logins' tokens saved (warm-up included), %d with a refresh token", saved, s.with.Load())
	if saved > 0 && s.with.Load() == 0 {
		note += " (none: give the client the refresh_token grant)"
	}
	return append(s.lf.Notes(), note)
}

// tokenTap passes requests on and keeps a copy of the body of the token
// endpoint's 200 answer, handing the same bytes on to the flow. One tap
// serves one login (one worker), so it needs no lock.
type tokenTap struct {
	next     http.RoundTripper
	endpoint string
	body     []byte
}

func (t *tokenTap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || req.URL.String() != t.endpoint || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	t.body = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
