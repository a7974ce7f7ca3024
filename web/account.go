package web

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"eidp/idp/account"
	"eidp/idp/interaction"
	"eidp/idp/passkey"
	"eidp/idp/proofing"
	"eidp/idp/session"
	"eidp/vault/accesslog"
)

// accountView is the account page's data.
type accountView struct {
	Resident       account.Resident
	DisplayName    string
	IDNumber       string // masked
	Passkeys       []passkeyView
	OnlyOnePasskey bool
	Sessions       []sessionView
	Activity       []activityView
	CodesLeft      int
	// ShowServices is false when the OpenID Provider is not wired in.
	ShowServices bool
	Services     []serviceView
	// ShowData links the My data page (the vault is wired in); Releases
	// are the newest lines of its access log.
	ShowData   bool
	Releases   []releaseView
	ShowDelete bool
}

// activityView is one line of the activity log.
type activityView struct {
	account.Event
	Text string // translated
}

// activityText words an event; consent events name the service (detail
// "client", recorded by the provider).
func (s *Server) activityText(lang string, e account.Event) string {
	client := e.Detail["client"]
	if zh := e.Detail["client_zh"]; zh != "" && lang != "en" {
		client = zh
	}
	if client == "" {
		client = s.msgs.text(lang, "activity.a_service")
	}
	return s.msgs.text(lang, "activity."+string(e.Kind), "client", client)
}

// serviceView is one relying party the resident has let see their data.
type serviceView struct {
	interaction.Client
	Claims []string // in plain words
	Since  time.Time
}

type passkeyView struct {
	passkey.Credential
	ID string
}

type sessionView struct {
	session.Session
	Current bool
}

// requireSession returns the live session or sends the browser to log in.
func (s *Server) requireSession(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	return s.requireSessionOr(w, r, "/login")
}

// requireSessionOr is requireSession sending a browser without a session
// to the URL login (a login page that comes back) instead of /login.
func (s *Server) requireSessionOr(w http.ResponseWriter, r *http.Request, login string) (session.Session, bool) {
	sess, err := s.Sessions.Get(r.Context(), r)
	if err == nil {
		// A suspended or deleted account's sessions end at its next request.
		var resident account.Resident
		if resident, err = s.Accounts.Get(r.Context(), sess.ResidentID); err == nil && resident.Status != account.StatusActive {
			err = s.Sessions.Logout(r.Context(), w, r)
			if err == nil {
				err = session.ErrNoSession
			}
		}
	}
	if err != nil {
		if !errors.Is(err, session.ErrNoSession) {
			s.Log.ErrorContext(r.Context(), "session lookup", "error", err)
		}
		http.Redirect(w, r, login, http.StatusSeeOther)
		return sess, false
	}
	return sess, true
}

// maskIDNumber shows enough of the card number to recognise it, not to copy
// it from a shoulder: "A123***(4)".
func maskIDNumber(n string) string {
	f := proofing.FormatIDNumber(n)
	if len(f) < 7 {
		return f
	}
	// Keep the letters and the first three digits, hide the other three.
	i := 0
	for i < len(f) && f[i] >= 'A' && f[i] <= 'Z' {
		i++
	}
	if i+6 > len(f) {
		return f
	}
	return f[:i+3] + "***" + f[i+6:]
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireSession(w, r)
	if !ok {
		return
	}
	var notice string
	switch r.URL.Query().Get("done") {
	case "added":
		notice = s.message(r, "passkey.added_ok")
	case "recovered":
		notice = s.message(r, "recover.done")
	case "revoked":
		notice = s.message(r, "session.revoked_ok")
	case "withdrawn":
		if name, ok := s.withdrawnName(r); ok {
			notice = s.message(r, "services.withdrawn", "name", name)
		}
	}
	s.renderAccount(w, r, sess, notice)
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, sess session.Session, notice string) {
	ctx := r.Context()
	resident, err := s.Accounts.Get(ctx, sess.ResidentID)
	var (
		creds    []passkey.Credential
		sessions []session.Session
		activity []account.Event
		left     int
	)
	if err == nil {
		creds, err = s.Passkeys.List(ctx, resident.ID)
	}
	if err == nil {
		sessions, err = s.Sessions.List(ctx, resident.ID)
	}
	if err == nil {
		activity, err = s.Accounts.Activity(ctx, resident.ID, 20)
	}
	if err == nil {
		left, err = s.Accounts.RecoveryCodesLeft(ctx, resident.ID)
	}
	lang := negotiateLanguage(r)
	var consents []interaction.Consent
	if err == nil && s.OIDC != nil {
		consents, err = s.OIDC.Consents(ctx, resident.ID, lang)
	}
	var releases []accesslog.Entry
	if err == nil && s.Vault != nil && s.AccessLog != nil {
		releases, err = s.AccessLog.List(ctx, resident.ID, recentReleases)
	}
	if err != nil {
		s.Log.ErrorContext(ctx, "account page", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	v := accountView{Resident: resident, DisplayName: resident.DisplayName(lang), IDNumber: maskIDNumber(resident.IDNumber),
		CodesLeft: left, ShowServices: s.OIDC != nil, ShowData: s.Vault != nil, Releases: s.releases(lang, releases),
		ShowDelete: s.DeleteAccount != nil}
	for _, e := range activity {
		v.Activity = append(v.Activity, activityView{Event: e, Text: s.activityText(lang, e)})
	}
	logos := false
	for _, c := range consents {
		v.Services = append(v.Services, serviceView{Client: showClient(c.Client), Claims: s.claimLabels(lang, c.Claims), Since: c.GrantedAt})
		logos = logos || v.Services[len(v.Services)-1].LogoURI != ""
	}
	if logos {
		setPageCSP(w, true, false)
	}
	usable := 0
	for _, c := range creds {
		v.Passkeys = append(v.Passkeys, passkeyView{Credential: c, ID: c.IDString()})
		if c.BlockedAt.IsZero() {
			usable++
		}
	}
	v.OnlyOnePasskey = usable <= 1
	for _, x := range sessions {
		v.Sessions = append(v.Sessions, sessionView{Session: x, Current: x.ID == sess.ID})
	}
	s.render(w, r, http.StatusOK, "account", page{Lang: lang, Title: "account.title", Notice: notice, Data: v})
}

// credentialID decodes the form's credential ID.
func credentialID(v string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return b, err == nil && len(b) > 0 && len(b) <= 1023
}

// accountForm starts every account-page action: a form with a valid CSRF
// token from a logged-in resident. It answers the request itself when it
// returns false.
func (s *Server) accountForm(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	if !s.parseForm(w, r) {
		return session.Session{}, false
	}
	return s.requireSession(w, r)
}

// passkeyForm is accountForm plus the credential the form names.
func (s *Server) passkeyForm(w http.ResponseWriter, r *http.Request) (session.Session, []byte, bool) {
	sess, ok := s.accountForm(w, r)
	if !ok {
		return sess, nil, false
	}
	id, ok := credentialID(r.PostFormValue("id"))
	if !ok {
		s.errorPage(w, r, http.StatusBadRequest, "err.bad_request")
	}
	return sess, id, ok
}

func (s *Server) renamePasskey(w http.ResponseWriter, r *http.Request) {
	sess, id, ok := s.passkeyForm(w, r)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	err := s.Passkeys.Rename(ctx, sess.ResidentID, id, r.PostFormValue("nickname"))
	if errors.Is(err, passkey.ErrInvalidNickname) {
		s.renderAccount(w, r, sess, s.message(r, "passkey.bad_nickname"))
		return
	}
	if err == nil {
		err = s.Accounts.Record(ctx, sess.ResidentID, account.KindPasskeyRenamed, nil)
	}
	s.afterAction(w, r, err, "")
}

func (s *Server) removePasskey(w http.ResponseWriter, r *http.Request) {
	sess, id, ok := s.passkeyForm(w, r)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	err := s.Passkeys.Remove(ctx, sess.ResidentID, id, false)
	if errors.Is(err, passkey.ErrLastCredential) {
		s.renderAccount(w, r, sess, s.message(r, "passkey.remove_last"))
		return
	}
	if err == nil {
		err = s.Accounts.Record(ctx, sess.ResidentID, account.KindPasskeyRemoved, nil)
	}
	s.afterAction(w, r, err, "")
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.accountForm(w, r)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	target := r.PostFormValue("id")
	err := s.Sessions.Revoke(ctx, sess.ResidentID, target)
	if err == nil {
		err = s.Accounts.Record(ctx, sess.ResidentID, account.KindSessionRevoked, nil)
	}
	if target == sess.ID && err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.afterAction(w, r, err, "revoked")
}

func (s *Server) revokeOtherSessions(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.accountForm(w, r)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	n, err := s.Sessions.RevokeAll(ctx, sess.ResidentID, sess.ID)
	if err == nil && n > 0 {
		err = s.Accounts.Record(ctx, sess.ResidentID, account.KindSessionRevoked, nil)
	}
	s.afterAction(w, r, err, "revoked")
}

func (s *Server) newRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.accountForm(w, r)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	codes, err := s.Accounts.NewRecoveryCodes(ctx, sess.ResidentID)
	if err != nil {
		s.afterAction(w, r, err, "")
		return
	}
	s.render(w, r, http.StatusOK, "codes", page{Title: "codes.title", Data: codes})
}

// afterAction sends the browser back to the account page (POST → redirect →
// GET), or shows an error.
func (s *Server) afterAction(w http.ResponseWriter, r *http.Request, err error, done string) {
	switch {
	case err == nil:
		target := "/account"
		if done != "" {
			target += "?done=" + done
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	case errors.Is(err, passkey.ErrNotFound), errors.Is(err, session.ErrNoSession):
		s.errorPage(w, r, http.StatusNotFound, "error.not_found")
	default:
		s.Log.ErrorContext(r.Context(), "account action", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
	}
}
