package demo

import (
	"crypto/rand"
	"net/http"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// login starts an authorization code flow (OpenID Connect Core §3.1.2.1).
// Query parameters pick the variants the home page offers:
//
//	idcard=1      also ask for scope eidp:idcard (the ID-card number)
//	prompt=login  make eidp ask for the passkey again even with a session
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	d, err := h.provider(r.Context())
	if err != nil {
		h.fail(w, r, http.StatusBadGateway, problem{
			Title:   "eidp cannot be reached",
			Message: "The demo service could not read eidp's configuration (OpenID Connect discovery). Try again in a moment.",
		}, err)
		return
	}
	q := r.URL.Query()
	scopes := slices.Clone(h.cfg.Scopes)
	if q.Get("idcard") == "1" && !slices.Contains(scopes, ScopeIDCard) {
		scopes = append(scopes, ScopeIDCard)
	}
	oauth := *d.oauth
	oauth.Scopes = scopes

	f := flowState{
		State:    rand.Text(),
		Nonce:    rand.Text(),
		Verifier: oauth2.GenerateVerifier(),
		Expires:  h.now().Add(flowLifetime).Unix(),
	}
	sealed, err := h.sealer.seal(flowCookie, f)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, problem{Title: "Something went wrong", Message: "The demo could not start the login."}, err)
		return
	}
	opts := []oauth2.AuthCodeOption{
		oidc.Nonce(f.Nonce),
		oauth2.S256ChallengeOption(f.Verifier), // RFC 7636 §4.3
	}
	if q.Get("prompt") == "login" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login")) // Core §3.1.2.1
	}
	h.setCookie(w, flowCookie, sealed, flowLifetime)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, oauth.AuthCodeURL(f.State, opts...), http.StatusFound)
}
