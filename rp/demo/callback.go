package demo

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// resultData fills templates/result.html.
type resultData struct {
	Title string

	Alg, Kid, Typ string
	HeaderJSON    string
	ClaimsJSON    string

	Subject   string
	Issuer    string
	Audience  string
	IssuedAt  string
	Expires   string
	AuthTime  string
	ACR       string
	AMR       string
	AtHashOK  bool
	IDCardAsk bool

	TokenType     string
	GrantedScope  string
	AccessExpires string

	UserinfoJSON  string
	UserinfoError string

	CSRF string
}

const timeLayout = "2006-01-02 15:04:05 MST"

// callback finishes the flow (OpenID Connect Core §3.1.2.5 – §3.1.3.8).
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	d, err := h.provider(r.Context())
	if err != nil {
		h.fail(w, r, http.StatusBadGateway, problem{
			Title:   "eidp cannot be reached",
			Message: "The demo service could not read eidp's configuration (OpenID Connect discovery). Try again in a moment.",
		}, err)
		return
	}
	restart := problem{
		Title:   "Please start the login again",
		Message: "This login response does not belong to a login started in this browser, or it took longer than ten minutes.",
	}
	f, err := h.readFlow(r)
	// The flow is single-use, whatever happens next.
	h.clearCookie(w, flowCookie)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, restart, err)
		return
	}
	q := r.URL.Query()
	// RFC 6749 §10.12: the state binds the response to this browser's login.
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		h.fail(w, r, http.StatusBadRequest, restart, errors.New("demo: state mismatch"))
		return
	}
	// RFC 9207 §2.4: iss, when sent, must be our issuer (a mix-up attack
	// otherwise); a provider that advertises the parameter always sends it.
	if iss, ok := q["iss"]; ok || d.issParamRequired {
		if !ok || len(iss) != 1 || iss[0] != h.cfg.Issuer {
			h.fail(w, r, http.StatusBadRequest, problem{
				Title:   "This login response is not from eidp",
				Message: "The response names a different issuer than the one the demo trusts, so the demo ignored it (RFC 9207).",
			}, errors.New("demo: iss parameter missing or not our issuer"))
			return
		}
	}
	// RFC 6749 §4.1.2.1 / Core §3.1.2.6: an error response.
	if code := q.Get("error"); code != "" {
		msg, ok := providerErrorMessages[code]
		if !ok {
			msg = "eidp could not complete the login."
		}
		h.fail(w, r, http.StatusBadRequest, problem{
			Title:       "The login did not finish",
			Message:     msg,
			Code:        code,
			Description: q.Get("error_description"),
		}, nil)
		return
	}
	code := q.Get("code")
	if code == "" {
		h.fail(w, r, http.StatusBadRequest, restart, errors.New("demo: callback without code"))
		return
	}

	ctx := h.ctx(r.Context())
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			h.fail(w, r, http.StatusBadRequest, problem{
				Title:   "eidp did not accept the login code",
				Message: "The code may have been used already or have expired. Please log in again.",
				Code:    re.ErrorCode,
			}, fmt.Errorf("demo: token endpoint answered %d %s", re.Response.StatusCode, re.ErrorCode))
			return
		}
		h.fail(w, r, http.StatusBadGateway, problem{
			Title:   "eidp cannot be reached",
			Message: "The demo service could not reach eidp's token endpoint. Please try again.",
		}, fmt.Errorf("demo: token request: %w", err))
		return
	}
	rawIDToken, _ := tok.Extra("id_token").(string)
	if rawIDToken == "" {
		h.fail(w, r, http.StatusBadGateway, problem{
			Title:   "eidp sent no ID token",
			Message: "The token response had no ID token, so the demo cannot tell who logged in.",
		}, errors.New("demo: token response without id_token"))
		return
	}
	notVerified := problem{
		Title:   "The ID token could not be verified",
		Message: "The demo service checks every ID token (signature, issuer, audience, expiry, nonce) and this one failed, so it was not used.",
	}
	// Core §3.1.3.7: signature from the provider's JWKS, iss, aud, exp.
	idt, err := d.verifier.Verify(ctx, rawIDToken)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, notVerified, fmt.Errorf("demo: verify id token: %w", err))
		return
	}
	// Core §3.1.3.7 step 11: the nonce binds the ID token to this login.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		h.fail(w, r, http.StatusBadRequest, notVerified, errors.New("demo: id token nonce mismatch"))
		return
	}
	// Core §3.1.3.8: at_hash, when present, binds the access token.
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			h.fail(w, r, http.StatusBadRequest, notVerified, fmt.Errorf("demo: at_hash: %w", err))
			return
		}
	}

	data := resultData{
		Title:         "You are logged in",
		Subject:       idt.Subject,
		Issuer:        idt.Issuer,
		Audience:      strings.Join(idt.Audience, " "),
		IssuedAt:      formatTime(idt.IssuedAt),
		Expires:       formatTime(idt.Expiry),
		AtHashOK:      idt.AccessTokenHash != "",
		TokenType:     tok.TokenType,
		AccessExpires: "not given",
	}
	if s, ok := tok.Extra("scope").(string); ok {
		data.GrantedScope = s
		data.IDCardAsk = strings.Contains(" "+s+" ", " "+ScopeIDCard+" ")
	}
	if !tok.Expiry.IsZero() {
		data.AccessExpires = fmt.Sprintf("%s (in %s)", formatTime(tok.Expiry), tok.Expiry.Sub(h.now()).Round(time.Second))
	}
	if err := fillIDToken(&data, rawIDToken, idt.Claims); err != nil {
		h.fail(w, r, http.StatusBadGateway, notVerified, err)
		return
	}

	// Core §5.3: userinfo with the access token. A failure is shown on the
	// page; a different sub means the token is not to be trusted (§5.3.2).
	ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	switch {
	case err != nil:
		h.log.Warn("demo: userinfo", "err", err)
		data.UserinfoError = "The userinfo request failed; the server log says why."
	case ui.Subject != idt.Subject:
		h.fail(w, r, http.StatusBadGateway, problem{
			Title:   "eidp's answers do not match",
			Message: "The userinfo response is about a different subject than the ID token, so the demo used neither.",
		}, errors.New("demo: userinfo sub differs from id token sub"))
		return
	default:
		var raw json.RawMessage
		if err := ui.Claims(&raw); err != nil {
			data.UserinfoError = "The userinfo response was not JSON."
		} else {
			data.UserinfoJSON = indentJSON(raw)
		}
	}

	sess := sessionState{
		IDToken: rawIDToken,
		Subject: idt.Subject,
		CSRF:    rand.Text(),
		Expires: h.now().Add(sessionMaxAge).Unix(),
	}
	if err := h.writeSession(w, sess); err != nil {
		h.fail(w, r, http.StatusInternalServerError, problem{Title: "Something went wrong", Message: "The demo could not keep your session."}, err)
		return
	}
	data.CSRF = sess.CSRF
	h.render(w, http.StatusOK, h.pages.result, data)
}

// fillIDToken puts the (already verified) token's header and claims on the
// page: the JOSE header (RFC 7515 §4) is not exposed by go-oidc, so it is
// decoded here for display only.
func fillIDToken(data *resultData, raw string, claims func(any) error) error {
	header, _, ok := strings.Cut(raw, ".")
	if !ok {
		return errors.New("demo: id token is not a compact JWS")
	}
	hb, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return fmt.Errorf("demo: id token header: %w", err)
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return fmt.Errorf("demo: id token header: %w", err)
	}
	data.Alg, data.Kid, data.Typ = hdr.Alg, hdr.Kid, hdr.Typ
	data.HeaderJSON = indentJSON(hb)

	var all json.RawMessage
	if err := claims(&all); err != nil {
		return fmt.Errorf("demo: id token claims: %w", err)
	}
	data.ClaimsJSON = indentJSON(all)
	var extra struct {
		AuthTime int64    `json:"auth_time"`
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
	}
	if err := claims(&extra); err == nil {
		if extra.AuthTime > 0 {
			data.AuthTime = formatTime(time.Unix(extra.AuthTime, 0))
		}
		data.ACR = extra.ACR
		data.AMR = strings.Join(extra.AMR, " ")
	}
	return nil
}

func indentJSON(raw []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}
