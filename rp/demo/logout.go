package demo

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
)

// logout ends the demo's session and sends the browser to eidp's
// end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0 §2) with
// id_token_hint, client_id and post_logout_redirect_uri, so that the
// resident is logged out of eidp too and comes back to /demo.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	s, err := h.readSession(r)
	if err != nil {
		h.clearCookie(w, sessionCookie)
		// Nothing to log out of here; eidp's own pages have a logout.
		http.Redirect(w, r, pathHome, http.StatusSeeOther)
		return
	}
	// The form carries the session's token, so another site cannot post it.
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
		h.fail(w, r, http.StatusForbidden, problem{
			Title:   "Log out from the demo page",
			Message: "This logout request did not come from the demo's own page, so the demo ignored it.",
		}, errors.New("demo: logout without the session's csrf token"))
		return
	}
	h.clearCookie(w, sessionCookie)
	d, err := h.provider(r.Context())
	if err != nil || d.endSession == "" {
		if err != nil {
			h.log.Warn("demo: logout without discovery", "err", err)
		}
		http.Redirect(w, r, pathHome, http.StatusSeeOther)
		return
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		h.log.Warn("demo: end_session_endpoint is not a URL", "err", err)
		http.Redirect(w, r, pathHome, http.StatusSeeOther)
		return
	}
	q := u.Query()
	if s.IDToken != "" {
		q.Set("id_token_hint", s.IDToken)
	}
	q.Set("client_id", h.cfg.ClientID)
	q.Set("post_logout_redirect_uri", h.postLogoutRedirectURL)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}
