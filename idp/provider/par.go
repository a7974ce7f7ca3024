package provider

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"eidp/idp/clientauth"
	"eidp/idp/grant"
)

// clientAuthParams are the form parameters that authenticate the client;
// they are not part of a pushed authorization request.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// par is the pushed authorization request endpoint (RFC 9126 §2): the
// client authenticates, its request is validated now, and it gets a
// single-use request_uri valid for parTTL.
func (p *Provider) par(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.URL.RawQuery != "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameters belong in the request body, not the URL")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the request body could not be read")
		return
	}
	form := r.PostForm
	creds := clientauth.Credentials{ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret"),
		ClientAssertion: form.Get("client_assertion"), ClientAssertionType: form.Get("client_assertion_type")}
	if id, secret, ok := r.BasicAuth(); ok {
		if creds.ClientSecret != "" || creds.ClientAssertion != "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "use one client authentication method")
			return
		}
		var err1, err2 error
		creds.ClientID, err1 = url.QueryUnescape(id)
		creds.ClientSecret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "malformed basic credentials")
			return
		}
		creds.Basic = true
		if f := form.Get("client_id"); f != "" && f != creds.ClientID {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the authenticated client")
			return
		}
	}
	c, err := p.authenticate(ctx, creds)
	if err != nil {
		var oe *oidc.Error
		if creds.Basic && errors.As(err, &oe) && oe.ErrorType == oidc.InvalidClient {
			w.Header().Set("WWW-Authenticate", `Basic realm="eidp", charset="UTF-8"`)
		}
		writeZitadelError(w, err)
		return
	}
	if form.Get("request_uri") != "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "request_uri is not allowed in a pushed authorization request (RFC 9126 §2.1)")
		return
	}
	pushed := url.Values{}
	for k, v := range form {
		if !slices.Contains(clientAuthParams, k) {
			pushed[k] = v
		}
	}
	pushed.Set("client_id", c.ClientID)
	// Validate now (RFC 9126 §2.1): errors come back here, not later. What
	// is stored is the resolved request, so a request object is verified
	// once.
	resolved, err := p.resolveRequestObject(ctx, c, pushed)
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request_object", describe(err))
		return
	}
	if ru := resolved.Get("redirect_uri"); ru == "" || !slices.Contains(c.RedirectURIs, ru) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "redirect_uri is missing or not registered for this client")
		return
	}
	if _, aerr := p.parseAuthz(ctx, c, resolved, true); aerr != nil {
		writeOAuthError(w, http.StatusBadRequest, aerr.code, aerr.description)
		return
	}
	raw, err := json.Marshal(resolved)
	if err != nil {
		p.log.ErrorContext(ctx, "par: encode", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	req, err := p.Grants.SaveRequest(ctx, grant.KindPushed, c.ClientID, raw, parTTL)
	if err != nil {
		p.log.ErrorContext(ctx, "par: save", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"request_uri": requestURIPrefix + req.ID,
		"expires_in":  int(parTTL.Seconds()),
	})
}
