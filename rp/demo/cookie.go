package demo

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Cookie names and lifetimes. Both cookies are scoped to /demo, HttpOnly and
// SameSite=Lax: the callback is a top-level GET navigation back from the
// provider, which Lax lets through.
const (
	flowCookie     = "eidp_demo_flow"
	sessionCookie  = "eidp_demo_session"
	flowLifetime   = 10 * time.Minute
	sessionMaxAge  = time.Hour
	maxCookieBytes = 3800 // browsers keep at least 4096 bytes per cookie, name and attributes included
)

// errBadCookie covers a missing, forged, altered or expired cookie.
var errBadCookie = errors.New("demo: missing or invalid cookie")

// flowState is what the login keeps for the callback: RFC 6749 §10.12 state,
// OpenID Connect Core §3.1.2.1 nonce and the RFC 7636 §4.1 code verifier.
type flowState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"` // Unix seconds
}

// sessionState is the demo's login session: the raw ID token for the
// RP-Initiated Logout id_token_hint and a token that the logout form must
// carry (so that another site cannot log the visitor out).
type sessionState struct {
	IDToken string `json:"t,omitempty"`
	Subject string `json:"sub"`
	CSRF    string `json:"c"`
	Expires int64  `json:"e"`
}

// sealer encrypts and authenticates cookie values with AES-256-GCM. The
// cookie's name is the additional data, so one cookie cannot stand in for
// the other.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("demo: cookie cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("demo: cookie cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("demo: seal cookie: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("demo: seal cookie: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

func (s *sealer) open(name, value string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return errBadCookie
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return errBadCookie
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return errBadCookie
	}
	return nil
}

func (h *Handler) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     pathHome,
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   h.cfg.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    "",
		Path:     pathHome,
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   h.cfg.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// readFlow opens the flow cookie; an expired one is as bad as a missing one.
func (h *Handler) readFlow(r *http.Request) (flowState, error) {
	var f flowState
	c, err := r.Cookie(flowCookie)
	if err != nil {
		return f, errBadCookie
	}
	if err := h.sealer.open(flowCookie, c.Value, &f); err != nil {
		return f, err
	}
	if h.now().Unix() >= f.Expires {
		return f, fmt.Errorf("%w: login flow expired", errBadCookie)
	}
	return f, nil
}

// readSession opens the session cookie.
func (h *Handler) readSession(r *http.Request) (sessionState, error) {
	var s sessionState
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return s, errBadCookie
	}
	if err := h.sealer.open(sessionCookie, c.Value, &s); err != nil {
		return s, err
	}
	if h.now().Unix() >= s.Expires {
		return s, fmt.Errorf("%w: session expired", errBadCookie)
	}
	return s, nil
}

// writeSession stores s. If the ID token makes the cookie too large for
// browsers, it is left out: logout then goes without id_token_hint.
func (h *Handler) writeSession(w http.ResponseWriter, s sessionState) error {
	v, err := h.sealer.seal(sessionCookie, s)
	if err != nil {
		return err
	}
	if len(v) > maxCookieBytes {
		s.IDToken = ""
		if v, err = h.sealer.seal(sessionCookie, s); err != nil {
			return err
		}
	}
	h.setCookie(w, sessionCookie, v, sessionMaxAge)
	return nil
}
