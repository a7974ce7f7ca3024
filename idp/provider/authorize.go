package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"eidp/idp/account"
	"eidp/idp/claims"
	"eidp/idp/client"
	"eidp/idp/clientauth"
	"eidp/idp/grant"
	"eidp/idp/interaction"
	"eidp/idp/proofing"
	"eidp/idp/session"
)

// authzParams is a validated authorization request, kept between the
// browser's steps (grant.Request.Params).
type authzParams struct {
	ClientID      string         `json:"client_id"`
	RedirectURI   string         `json:"redirect_uri"`
	Scopes        []string       `json:"scope"`
	State         string         `json:"state,omitempty"`
	Nonce         string         `json:"nonce,omitempty"`
	Prompt        []string       `json:"prompt,omitempty"`
	MaxAge        *int64         `json:"max_age,omitempty"`
	UILocales     string         `json:"ui_locales,omitempty"`
	LoginHint     string         `json:"login_hint,omitempty"`
	ACRValues     []string       `json:"acr_values,omitempty"`
	Claims        claims.Request `json:"claims,omitzero"`
	CodeChallenge string         `json:"code_challenge"`
	IDTokenHint   string         `json:"id_token_hint,omitempty"` // the subject it named, once verified
	Pushed        bool           `json:"pushed,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	// ResidentID binds the request to the resident who logged in for it;
	// consent answers from anyone else are refused.
	ResidentID string `json:"resident_id,omitempty"`
	// Locale is the resident's language at that moment (the locale claim).
	Locale string `json:"locale,omitempty"`
	// Signing is a credential authorization (scope=credential), and
	// SigningID the signing request made for it once the resident was known.
	Signing   *interaction.SigningAuthorization `json:"signing,omitempty"`
	SigningID string                            `json:"signing_id,omitempty"`
}

func (a authzParams) has(prompt string) bool { return slices.Contains(a.Prompt, prompt) }

// authzError is an OAuth error for the authorization endpoint.
type authzError struct {
	code, description string
}

func (e *authzError) Error() string { return e.code + ": " + e.description }

func authzErr(code, format string, args ...any) *authzError {
	return &authzError{code: code, description: fmt.Sprintf(format, args...)}
}

var (
	codeChallengeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	promptValues    = []string{"none", "login", "consent"}
)

// authorize is the authorization endpoint (OIDC Core §3.1.2, RFC 6749
// §4.1.1, RFC 9126 §4, RFC 9101). GET and POST (form) are both accepted.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if !p.browserForm(w, r) {
		return
	}
	ctx := r.Context()
	form := r.Form
	clientID := form.Get("client_id")
	if clientID == "" {
		p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request", "client_id is missing")
		return
	}
	c, err := p.Clients.Get(ctx, clientID)
	if errors.Is(err, client.ErrNotFound) {
		p.ErrorPage(w, r, http.StatusBadRequest, "invalid_client", "unknown client_id")
		return
	}
	if err != nil {
		p.internalError(w, r, "authorize: client", err)
		return
	}

	pushed := false
	switch {
	case form.Get("request_uri") != "":
		// RFC 9126 §4: only the pushed parameters count.
		id, ok := strings.CutPrefix(form.Get("request_uri"), requestURIPrefix)
		if !ok {
			p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request_uri", "request_uri was not issued by this server's pushed authorization request endpoint")
			return
		}
		req, err := p.Grants.UsePushed(ctx, id, c.ClientID)
		switch {
		case errors.Is(err, grant.ErrExpired):
			p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request_uri", "request_uri has expired")
			return
		case errors.Is(err, grant.ErrUsed):
			p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request_uri", "request_uri was already used")
			return
		case errors.Is(err, grant.ErrNotFound):
			p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request_uri", "request_uri is unknown or belongs to another client")
			return
		case err != nil:
			p.internalError(w, r, "authorize: request_uri", err)
			return
		}
		var pushedForm url.Values
		if err := json.Unmarshal(req.Params, &pushedForm); err != nil {
			p.internalError(w, r, "authorize: pushed params", err)
			return
		}
		form, pushed = pushedForm, true
	case p.opts.RequirePAR || c.RequirePushedAuthorizationRequests:
		// Checked below once the redirect URI is known to be good.
	}

	// A request object is the request (verified once, here); if it does
	// not verify, the error goes to the query's redirect URI, if that one
	// is registered.
	resolved, roErr := p.resolveRequestObject(ctx, c, form)
	redirectURI := form.Get("redirect_uri")
	if roErr == nil {
		redirectURI = resolved.Get("redirect_uri")
	}
	// The redirect URI must match exactly before anything is sent there
	// (RFC 6749 §3.1.2.4, OIDC Core §3.1.2.1).
	if redirectURI == "" || !slices.Contains(c.RedirectURIs, redirectURI) {
		p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request", "redirect_uri is missing or not registered for this client")
		return
	}
	back := errorRedirect{issuer: p.opts.Issuer, redirectURI: redirectURI, state: form.Get("state")}

	if !pushed && (p.opts.RequirePAR || c.RequirePushedAuthorizationRequests) {
		back.send(w, r, authzErr("invalid_request", "this client must use pushed authorization requests (RFC 9126)"))
		return
	}
	if roErr != nil {
		back.send(w, r, authzErr("invalid_request_object", "%s", describe(roErr)))
		return
	}
	params, aerr := p.parseAuthz(ctx, c, resolved, pushed)
	if aerr != nil {
		if params.State != "" {
			back.state = params.State
		}
		back.send(w, r, aerr)
		return
	}
	params.CreatedAt = p.now()
	raw, err := json.Marshal(params)
	if err != nil {
		p.internalError(w, r, "authorize: params", err)
		return
	}
	req, err := p.Grants.SaveRequest(ctx, grant.KindInteractive, c.ClientID, raw, interactiveTTL)
	if err != nil {
		p.internalError(w, r, "authorize: save", err)
		return
	}
	p.proceed(w, r, c, req.ID, params)
}

// resolveRequestObject returns the request's parameters: form itself, or,
// when form carries a signed request object (RFC 9101 §5: its parameters
// are the request), the object's verified parameters. The error is the
// verification's.
func (p *Provider) resolveRequestObject(ctx context.Context, c client.Client, form url.Values) (url.Values, error) {
	ro := form.Get("request")
	if ro == "" {
		return form, nil
	}
	obj, err := p.ClientAuth.VerifyRequestObject(ctx, c, ro)
	if err != nil {
		return nil, err
	}
	merged := url.Values{}
	for k, v := range obj {
		switch k {
		case "iss", "aud", "exp", "iat", "nbf", "jti", "request", "request_uri":
			continue
		}
		switch x := v.(type) {
		case string:
			merged.Set(k, x)
		case float64:
			merged.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			b, _ := json.Marshal(x)
			merged.Set(k, string(b))
		}
	}
	if merged.Get("client_id") == "" {
		merged.Set("client_id", c.ClientID)
	}
	return merged, nil
}

// browserForm reads the parameters of an endpoint the browser is sent to
// (GET or form POST), answering a wrong method or an unreadable request
// with the error page.
func (p *Provider) browserForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.ErrorPage(w, r, http.StatusMethodNotAllowed, "invalid_request", "use GET or POST")
		return false
	}
	if err := r.ParseForm(); err != nil {
		p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request", "the request could not be read")
		return false
	}
	return true
}

// parseAuthz validates the authorization parameters in form (a request
// object already resolved). The redirect URI was checked.
func (p *Provider) parseAuthz(ctx context.Context, c client.Client, form url.Values, pushed bool) (authzParams, *authzError) {
	a := authzParams{
		ClientID: c.ClientID, RedirectURI: form.Get("redirect_uri"), State: form.Get("state"),
		Nonce: form.Get("nonce"), UILocales: form.Get("ui_locales"), LoginHint: form.Get("login_hint"),
		CodeChallenge: form.Get("code_challenge"), Pushed: pushed,
	}
	if form.Get("client_id") != c.ClientID {
		return a, authzErr("invalid_request", "client_id does not match")
	}
	if !slices.Contains(c.RedirectURIs, a.RedirectURI) {
		return a, authzErr("invalid_request", "redirect_uri is not registered for this client")
	}
	if len(a.State) > maxStateLen || len(a.Nonce) > maxNonceLen || len(a.LoginHint) > 256 || len(a.UILocales) > 256 {
		return a, authzErr("invalid_request", "a parameter is too long")
	}
	if rt := form.Get("response_type"); rt != "code" {
		if rt == "" {
			return a, authzErr("invalid_request", "response_type is missing")
		}
		return a, authzErr("unsupported_response_type", "only response_type=code is supported")
	}
	if rm := form.Get("response_mode"); rm != "" && rm != "query" {
		return a, authzErr("invalid_request", "only response_mode=query is supported")
	}
	a.Scopes = strings.Fields(form.Get("scope"))
	signing, aerr := p.parseSigning(c, form, a.Scopes)
	if aerr != nil {
		return a, aerr
	}
	if signing != nil {
		a.Signing = signing
		if !slices.Contains(a.Scopes, scopeCredential) {
			a.Scopes = append(a.Scopes, scopeCredential)
		}
	} else if !slices.Contains(a.Scopes, scopeOpenID) {
		return a, authzErr("invalid_scope", "the openid scope is required")
	}
	for _, s := range a.Scopes {
		if s != scopeOpenID && !c.IsScopeAllowed(s) {
			return a, authzErr("invalid_scope", "scope %q is not allowed for this client", s)
		}
		if s == scopeAdmin {
			return a, authzErr("invalid_scope", "scope %q is for the client credentials grant only", s)
		}
	}
	a.Scopes = dedupe(a.Scopes)
	// PKCE, S256 only, for every client (RFC 7636; OAuth 2.0 Security BCP §2.1.1).
	switch {
	case a.CodeChallenge == "":
		return a, authzErr("invalid_request", "code_challenge is required (PKCE with S256)")
	case form.Get("code_challenge_method") != "S256":
		return a, authzErr("invalid_request", "code_challenge_method must be S256")
	case !codeChallengeRE.MatchString(a.CodeChallenge):
		return a, authzErr("invalid_request", "code_challenge must be a base64url SHA-256 value (43 characters)")
	}
	if pr := strings.Fields(form.Get("prompt")); len(pr) > 0 {
		for _, v := range pr {
			if !slices.Contains(promptValues, v) && v != "select_account" {
				return a, authzErr("invalid_request", "prompt value %q is not supported", v)
			}
		}
		if slices.Contains(pr, "none") && len(pr) > 1 {
			return a, authzErr("invalid_request", "prompt=none cannot be combined with other values")
		}
		a.Prompt = dedupe(pr)
	}
	if ma := form.Get("max_age"); ma != "" {
		n, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || n < 0 {
			return a, authzErr("invalid_request", "max_age must be a non-negative number of seconds")
		}
		a.MaxAge = &n
	}
	a.ACRValues = strings.Fields(form.Get("acr_values"))
	if cl := form.Get("claims"); cl != "" {
		req, err := claims.ParseRequest(cl)
		if err != nil {
			return a, authzErr("invalid_request", "%s", describe(err))
		}
		a.Claims = req
	}
	if hint := form.Get("id_token_hint"); hint != "" {
		sub, err := p.hintSubject(ctx, c, hint)
		if err != nil {
			return a, authzErr("invalid_request", "id_token_hint is not a valid ID token of this server for this client")
		}
		a.IDTokenHint = sub
	}
	return a, nil
}

// resume continues an interactive request after login: GET /authorize/resume?id=.
func (p *Provider) resume(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	req, err := p.Grants.GetRequest(ctx, id)
	if err != nil || req.Kind != grant.KindInteractive {
		if err != nil && !errors.Is(err, grant.ErrNotFound) && !errors.Is(err, grant.ErrExpired) {
			p.internalError(w, r, "resume", err)
			return
		}
		p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request", "this sign-in request has expired or was already answered; go back to the service and start again")
		return
	}
	var params authzParams
	if err := json.Unmarshal(req.Params, &params); err != nil {
		p.internalError(w, r, "resume: params", err)
		return
	}
	c, err := p.Clients.Get(ctx, req.ClientID)
	if err != nil {
		p.ErrorPage(w, r, http.StatusBadRequest, "invalid_client", "the service is no longer registered")
		return
	}
	p.proceed(w, r, c, req.ID, params)
}

// proceed decides what an authorization request needs next: a login, the
// resident's consent, or nothing — then the code goes back to the client.
func (p *Provider) proceed(w http.ResponseWriter, r *http.Request, c client.Client, id string, a authzParams) {
	ctx := r.Context()
	back := errorRedirect{issuer: p.opts.Issuer, redirectURI: a.RedirectURI, state: a.State}
	fail := func(e *authzError) {
		p.Grants.DeleteRequest(ctx, id)
		back.send(w, r, e)
	}
	sess, err := p.Sessions.Get(ctx, r)
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		p.internalError(w, r, "authorize: session", err)
		return
	}
	var resident account.Resident
	if err == nil {
		resident, err = p.Accounts.Get(ctx, sess.ResidentID)
		if err != nil {
			p.internalError(w, r, "authorize: resident", err)
			return
		}
		if resident.Status != account.StatusActive {
			fail(authzErr("access_denied", "the account cannot be used"))
			return
		}
	}
	if reason := p.needsLogin(c, a, sess, err == nil); reason != "" {
		if a.has("none") {
			fail(authzErr("login_required", "%s", reason))
			return
		}
		p.toLogin(w, r, id, a)
		return
	}
	// Step-up: an essential acr the session does not meet, even after a
	// fresh login, cannot be met (OIDC Core §5.5.1.1).
	if want := claims.EssentialACR(a.Claims); len(want) > 0 && !claims.SatisfiesACR(sess.ACR, want) {
		fail(authzErr("unmet_authentication_requirements", "the resident's assurance level does not meet the requested acr"))
		return
	}
	if a.ResidentID != "" && a.ResidentID != sess.ResidentID {
		// Someone else logged in in this browser since: start over.
		fail(authzErr("access_denied", "the session changed during the request"))
		return
	}
	if a.ResidentID == "" {
		a.ResidentID = sess.ResidentID
		a.Locale = p.locale(r, a)
		raw, err := json.Marshal(a)
		if err == nil {
			err = p.Grants.UpdateRequest(ctx, id, raw)
		}
		if err != nil {
			p.internalError(w, r, "authorize: bind", err)
			return
		}
	}
	if a.Signing != nil {
		p.proceedSigning(w, r, c, id, a, sess, fail)
		return
	}
	items := claims.Requested(a.Scopes, a.Claims, c.AllowIDCard)
	cons, err := p.ConsentStore.Get(ctx, sess.ResidentID, c.ClientID)
	covered := err == nil && cons.Covers(a.Scopes, items)
	if err != nil && !isNotFound(err) {
		p.internalError(w, r, "authorize: consent", err)
		return
	}
	if covered {
		// Vault data added or changed since the consent, that the consent
		// does not name (it was not there to choose), is asked about again
		// rather than withheld for ever or released unseen.
		fresh, err := p.newVaultData(ctx, sess.ResidentID, items, cons)
		if err != nil {
			p.internalError(w, r, "authorize: vault", err)
			return
		}
		covered = !fresh
	}
	if !covered || a.has("consent") {
		if a.has("none") {
			fail(authzErr("consent_required", "the resident has not consented to this client's request"))
			return
		}
		target := PathConsent + "?id=" + url.QueryEscape(id)
		if a.UILocales != "" {
			target += "&ui_locales=" + url.QueryEscape(a.UILocales)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	redirect, _, err := p.complete(ctx, c, id, a, sess, released(items, cons.Claims))
	if err != nil {
		p.internalError(w, r, "authorize: complete", err)
		return
	}
	http.Redirect(w, r, redirect, http.StatusSeeOther)
}

// needsLogin says why the session cannot serve the request ("" if it can).
func (p *Provider) needsLogin(c client.Client, a authzParams, sess session.Session, have bool) string {
	if !have {
		return "the resident is not logged in"
	}
	fresh := sess.AuthTime.After(a.CreatedAt)
	if fresh {
		// Logged in after the request was made: that answers prompt=login,
		// max_age and step-up, however long the redirects took.
		if a.IDTokenHint != "" && a.IDTokenHint != p.subjectFor(c, sess.ResidentID) {
			return "the logged-in resident is not the one id_token_hint names"
		}
		return ""
	}
	if a.has("login") {
		return "the client asked for a fresh login"
	}
	if a.MaxAge != nil && p.now().Sub(sess.AuthTime) > time.Duration(*a.MaxAge)*time.Second {
		return "the last login is older than max_age"
	}
	if len(a.ACRValues) > 0 && !claims.SatisfiesACR(sess.ACR, a.ACRValues) {
		return "the session's assurance level is lower than acr_values asks"
	}
	if want := claims.EssentialACR(a.Claims); len(want) > 0 && !claims.SatisfiesACR(sess.ACR, want) {
		return "the session's assurance level is lower than the essential acr"
	}
	if a.IDTokenHint != "" && a.IDTokenHint != p.subjectFor(c, sess.ResidentID) {
		return "the logged-in resident is not the one id_token_hint names"
	}
	return ""
}

// locale is the resident's language: the client's ui_locales if it names
// one we speak, else what the pages use for this browser.
func (p *Provider) locale(r *http.Request, a authzParams) string {
	for _, tag := range strings.Fields(a.UILocales) {
		switch primary, _, _ := strings.Cut(strings.ToLower(tag), "-"); primary {
		case "zh":
			return "zh-Hant"
		case "en":
			return "en"
		}
	}
	return p.Language(r)
}

// toLogin sends the browser to log in and come back to resume.
func (p *Provider) toLogin(w http.ResponseWriter, r *http.Request, id string, a authzParams) {
	q := url.Values{"next": {PathResume + "?id=" + id}}
	if a.UILocales != "" {
		q.Set("ui_locales", a.UILocales)
	}
	http.Redirect(w, r, PathLogin+"?"+q.Encode(), http.StatusSeeOther)
}

// complete issues the authorization code for a request the resident has
// consented to and returns the redirect to the client (RFC 9207: with iss).
func (p *Provider) complete(ctx context.Context, c client.Client, id string, a authzParams, sess session.Session, items []claims.Item) (redirect, grantID string, err error) {
	details, err := signingDetails(a.Signing)
	if err != nil {
		return "", "", err
	}
	gc, err := json.Marshal(grantClaims{Items: items, Locale: a.Locale, AuthorizationDetails: details})
	if err != nil {
		return "", "", err
	}
	cp, err := json.Marshal(codeParams{RedirectURI: a.RedirectURI, CodeChallenge: a.CodeChallenge, Nonce: a.Nonce})
	if err != nil {
		return "", "", err
	}
	code, g, err := p.Grants.IssueCode(ctx, grant.Grant{
		ClientID: c.ClientID, ResidentID: sess.ResidentID, SessionID: sess.ID,
		Scope: strings.Join(a.Scopes, " "), Claims: gc,
		AuthTime: sess.AuthTime, ACR: sess.ACR, AMR: sess.AMR,
		ExpiresAt: p.now().Add(p.opts.RefreshTokenLifetime),
	}, cp, codeTTL)
	if err != nil {
		return "", "", err
	}
	if err := p.Grants.DeleteRequest(ctx, id); err != nil {
		p.log.WarnContext(ctx, "authorize: could not delete the answered request", "err", err)
	}
	q := url.Values{"code": {code}, "iss": {p.opts.Issuer}}
	if a.State != "" {
		q.Set("state", a.State)
	}
	return appendQuery(a.RedirectURI, q), g.ID, nil
}

// codeParams is what a code's token request must match.
type codeParams struct {
	RedirectURI   string `json:"redirect_uri"`
	CodeChallenge string `json:"code_challenge"`
	Nonce         string `json:"nonce,omitempty"`
}

// released is the consented subset of items: the essential ones and the
// optional ones in consented.
func released(items []claims.Item, consented []string) []claims.Item {
	var out []claims.Item
	for _, it := range items {
		if it.Essential || slices.Contains(consented, it.Name) {
			out = append(out, it)
		}
	}
	return out
}

// errorRedirect sends an authorization error back to the client's
// (verified) redirect URI with state and iss (RFC 6749 §4.1.2.1, RFC 9207).
type errorRedirect struct {
	issuer, redirectURI, state string
}

func (e errorRedirect) send(w http.ResponseWriter, r *http.Request, ae *authzError) {
	q := url.Values{"error": {ae.code}, "error_description": {safeDescription(ae.description)}, "iss": {e.issuer}}
	if e.state != "" {
		q.Set("state", e.state)
	}
	http.Redirect(w, r, appendQuery(e.redirectURI, q), http.StatusSeeOther)
}

// appendQuery adds q to a URI that may already have a query (RFC 6749
// §3.1.2: the registered query must be kept).
func appendQuery(uri string, q url.Values) string {
	if strings.Contains(uri, "?") {
		return uri + "&" + q.Encode()
	}
	return uri + "?" + q.Encode()
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// internalError logs err and shows a generic error page.
func (p *Provider) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.log.ErrorContext(r.Context(), what, "err", err)
	p.ErrorPage(w, r, http.StatusInternalServerError, "server_error", "something went wrong on our side; please try again")
}

// describe is a safe description of a validation error from our packages
// (their descriptions name the parameter, never a secret or an internal
// cause).
func describe(err error) string {
	var ce *clientauth.Error
	if errors.As(err, &ce) && ce.Description != "" {
		return ce.Description
	}
	var d interface{ Description() string }
	if errors.As(err, &d) {
		return d.Description()
	}
	if errors.Is(err, claims.ErrInvalidClaims) {
		// Its messages say what is wrong without quoting the input.
		return strings.TrimPrefix(err.Error(), "claims: ")
	}
	return "the request is malformed"
}

// levelACRs lists the ACR values of our assurance levels, lowest first.
func levelACRs() []string {
	var out []string
	for _, l := range proofing.Levels() {
		out = append(out, l.ACR())
	}
	return out
}
