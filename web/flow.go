package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
)

// The flow cookie identifies one browser across the pages of a ceremony
// before and after login: passkey challenges are bound to it and the CSRF
// token is derived from it. It is a random bearer value; the database only
// ever sees its SHA-256.
const flowCookie = "eidp_flow"

// csrfField and csrfHeader carry the CSRF token in forms and JSON POSTs.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// flow returns the request's flow value, setting a new cookie when there is
// none (or a malformed one).
func (s *Server) flow(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(flowCookie); err == nil && validFlow(c.Value) {
		return c.Value
	}
	var b [32]byte
	rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: flowCookie, Value: v, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode,
	})
	// The new value is visible to this request's handlers too.
	r.AddCookie(&http.Cookie{Name: flowCookie, Value: v})
	return v
}

// existingFlow returns the flow value only if the browser already has one.
func existingFlow(r *http.Request) (string, bool) {
	c, err := r.Cookie(flowCookie)
	if err != nil || !validFlow(c.Value) {
		return "", false
	}
	return c.Value, true
}

func validFlow(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// flowHash is what the database stores for a flow.
func flowHash(flow string) string {
	h := sha256.Sum256([]byte(flow))
	return hex.EncodeToString(h[:])
}

// csrfToken is an HMAC of a fixed label under the flow value: a page from
// our origin can embed it, another site cannot compute it (it cannot read
// the HttpOnly cookie), and it needs no server-side state.
func csrfToken(flow string) string {
	m := hmac.New(sha256.New, []byte(flow))
	m.Write([]byte("eidp csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF accepts a state-changing request only if it carries the token of
// its flow and the browser does not say it came from another site.
func checkCSRF(r *http.Request) bool {
	// Fetch metadata (W3C): browsers that send it tell us outright.
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return false
	}
	flow, ok := existingFlow(r)
	if !ok {
		return false
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	want := csrfToken(flow)
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
