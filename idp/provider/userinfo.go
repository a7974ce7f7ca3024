package provider

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"eidp/idp/account"
	"eidp/idp/client"
)

// userinfo is the UserInfo endpoint (OIDC Core §5.3) with bearer tokens
// in the Authorization header or a form body (RFC 6750 §2.1, §2.2).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use GET or POST")
		return
	}
	token, ok := bearer(r)
	if !ok {
		// RFC 6750 §3.1: no error code when the request had no token.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.opts.Issuer+`"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_request", "a bearer access token is required")
		return
	}
	at, g, err := p.parseAccessToken(ctx, token)
	if errors.Is(err, errInvalidToken) {
		invalidToken(w, "the access token is invalid, expired or revoked")
		return
	}
	if err != nil {
		p.log.ErrorContext(ctx, "userinfo", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	if g == nil || !strings.Contains(" "+at.Scope+" ", " openid ") {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="openid"`)
		writeOAuthError(w, http.StatusForbidden, "insufficient_scope", "the token was not issued for a resident with the openid scope")
		return
	}
	c, err := p.Clients.Get(ctx, g.ClientID)
	if errors.Is(err, client.ErrNotFound) {
		invalidToken(w, "the client is no longer registered")
		return
	}
	var resident account.Resident
	if err == nil {
		resident, err = p.Accounts.Get(ctx, g.ResidentID)
	}
	if err == nil && resident.Status != account.StatusActive {
		invalidToken(w, "the account cannot be used")
		return
	}
	var out map[string]any
	if err == nil {
		out, err = p.userinfoClaims(ctx, c, *g, resident)
	}
	if errors.Is(err, errNoConsent) {
		invalidToken(w, "the resident has withdrawn consent")
		return
	}
	if err != nil {
		p.log.ErrorContext(ctx, "userinfo", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func invalidToken(w http.ResponseWriter, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+desc+`"`)
	writeOAuthError(w, http.StatusUnauthorized, "invalid_token", desc)
}

// bearer extracts the access token: header (case-insensitive scheme) or
// form body of a POST. Never the query string (RFC 6750 §2.3 is a SHOULD
// NOT that a government service takes as a must not).
func bearer(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", false
		}
		return strings.TrimSpace(tok), true
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err == nil {
			if t := r.PostForm.Get("access_token"); t != "" {
				return t, true
			}
		}
	}
	return "", false
}
