package web

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"

	"eidp/idp/account"
	"eidp/idp/proofing"
	"eidp/idp/session"
	"eidp/internal/httpx"
)

func (s *Server) welcome(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "welcome", page{Title: "welcome.title"})
}

// identityForm is what the register and recover forms send back to the page
// after an error (never the recovery code).
type identityForm struct {
	IDNumber, BirthDate, Name string
	Recover                   bool
}

func (s *Server) registerForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "register", page{Title: "register.title", Data: identityForm{}})
}

// parseForm reads a small urlencoded form and checks its CSRF token. It
// answers the request itself when it returns false.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, s.maxForms)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "err.bad_request")
		return false
	}
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "err.csrf")
		return false
	}
	return true
}

// proof runs identity proofing on the form and returns the register record,
// or the translated message to show.
func (s *Server) proof(r *http.Request, f identityForm) (proofing.Record, string) {
	switch {
	case strings.TrimSpace(f.BirthDate) == "":
		return proofing.Record{}, "err.birthdate"
	case strings.TrimSpace(f.Name) == "":
		return proofing.Record{}, "err.name"
	}
	rec, err := s.Proofer.Proof(r.Context(), proofing.Query{IDNumber: f.IDNumber, BirthDate: f.BirthDate, Name: f.Name}, httpx.ClientAddr(r))
	var locked *proofing.LockedError
	switch {
	case err == nil:
		return rec, ""
	case errors.As(err, &locked):
		return rec, s.message(r, "err.locked", "minutes", int(math.Ceil(locked.RetryAfter.Minutes())))
	case errors.Is(err, proofing.ErrIDNumberFormat):
		return rec, "err.idnumber_format"
	case errors.Is(err, proofing.ErrIDNumberCheckDigit):
		return rec, "err.idnumber_check"
	case errors.Is(err, proofing.ErrNotVerified):
		return rec, "err.not_verified"
	}
	s.Log.ErrorContext(r.Context(), "identity proofing failed", "error", err)
	return rec, "err.generic"
}

func formOf(r *http.Request) identityForm {
	return identityForm{
		IDNumber:  r.PostFormValue("id_number"),
		BirthDate: r.PostFormValue("birth_date"),
		Name:      r.PostFormValue("name"),
	}
}

// messageOrKey translates keys; proof returns some messages already translated.
func (s *Server) messageOrKey(r *http.Request, m string) string {
	if strings.HasPrefix(m, "err.") {
		return s.message(r, m)
	}
	return m
}

func (s *Server) registerSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	f := formOf(r)
	rec, msg := s.proof(r, f)
	if msg != "" {
		s.render(w, r, http.StatusUnprocessableEntity, "register", page{Title: "register.title", Error: s.messageOrKey(r, msg), Data: f})
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	resident, err := s.Accounts.Create(ctx, profileOf(rec), string(proofing.Substantial))
	if errors.Is(err, account.ErrAlreadyRegistered) {
		// One account per identity. A registration abandoned before its
		// first passkey may be resumed; any other account goes to recovery,
		// never to a second account and never to a new passkey by proofing
		// alone.
		resident, err = s.Accounts.ByIDNumber(ctx, rec.IDNumber)
		var completed bool
		if err == nil {
			completed, err = s.Accounts.RegistrationCompleted(ctx, resident.ID)
		}
		if err == nil && completed {
			s.render(w, r, http.StatusConflict, "recover", page{Title: "recover.title",
				Error: s.message(r, "err.already_registered"), Data: identityForm{Recover: true}})
			return
		}
	}
	if err == nil {
		err = s.flows.start(ctx, s.flow(w, r), purposeRegister, resident.ID)
	}
	if err != nil {
		s.Log.ErrorContext(ctx, "registration", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	http.Redirect(w, r, "/register/passkey", http.StatusSeeOther)
}

func profileOf(rec proofing.Record) account.Profile {
	return account.Profile{IDNumber: rec.IDNumber, Surname: rec.Surname, GivenNames: rec.GivenNames,
		NameZH: rec.NameZH, BirthDate: rec.BirthDate, Gender: rec.Gender}
}

// passkeyPage is the page that runs a registration ceremony for a flow.
type passkeyPage struct {
	Purpose flowPurpose
	Heading string // message key
	Lead    string // message key
}

func (s *Server) registerPasskey(w http.ResponseWriter, r *http.Request) {
	s.ceremonyPage(w, r, purposeRegister, "passkey.create_title", "passkey.create_lead")
}

func (s *Server) recoverPasskey(w http.ResponseWriter, r *http.Request) {
	s.ceremonyPage(w, r, purposeRecover, "recover.passkey_title", "passkey.create_lead")
}

func (s *Server) ceremonyPage(w http.ResponseWriter, r *http.Request, p flowPurpose, heading, lead string) {
	flow, ok := existingFlow(r)
	if ok {
		_, err := s.flows.resident(r.Context(), flow, p)
		ok = err == nil
	}
	if !ok {
		// The proofing step expired or never happened here: start again.
		target := "/register"
		if p == purposeRecover {
			target = "/recover"
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "passkey", page{Title: heading, Data: passkeyPage{Purpose: p, Heading: heading, Lead: lead}})
}

// loginView is the login page's data.
type loginView struct {
	// Next is where a successful login returns to: a pending authorization
	// of the OpenID Provider ("" for the account page).
	Next string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next, ok := authorizePath(r.URL.Query().Get("next"))
	if !ok {
		// A session already there is enough for the account page. With a
		// return path the page is shown regardless: the provider sends the
		// resident here exactly when it needs a fresh login (OIDC Core
		// §3.1.2.1 prompt=login, max_age; a higher acr), and the new
		// session replaces this browser's old one.
		if _, err := s.Sessions.Get(r.Context(), r); err == nil {
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
		s.render(w, r, http.StatusOK, "login", page{Title: "login.title", Data: loginView{}})
		return
	}
	// The language toggle comes back here with the return path (and
	// without ui_locales, which would outrank the resident's choice).
	s.render(w, r, http.StatusOK, "login", page{Title: "login.title", Path: "/login?" + url.Values{"next": {next}}.Encode(),
		Data: loginView{Next: next}})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if err := s.Sessions.Logout(r.Context(), w, r); err != nil && !errors.Is(err, session.ErrNoSession) {
		s.Log.ErrorContext(r.Context(), "logout", "error", err)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logoutConfirm asks before ending the session: a service sent the
// resident to log out (RP-initiated logout) without proving which session
// it means (no valid id_token_hint), so nothing ends behind their back.
func (s *Server) logoutConfirm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "logout", page{Title: "logout.title"})
}

func (s *Server) recoverForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "recover", page{Title: "recover.title", Data: identityForm{Recover: true}})
}

func (s *Server) recoverSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	f := formOf(r)
	f.Recover = true
	fail := func(msg string) {
		s.render(w, r, http.StatusUnprocessableEntity, "recover", page{Title: "recover.title", Error: s.messageOrKey(r, msg), Data: f})
	}
	rec, msg := s.proof(r, f)
	if msg != "" {
		fail(msg)
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	resident, err := s.Accounts.ByIDNumber(ctx, rec.IDNumber)
	if err == nil {
		err = s.Accounts.UseRecoveryCode(ctx, resident.ID, r.PostFormValue("code"))
	}
	switch {
	case errors.Is(err, account.ErrNotFound), errors.Is(err, account.ErrBadRecoveryCode):
		// Same words as any other failure: nothing tells a stranger whether
		// this identity has an account.
		fail("err.not_verified")
		return
	case err != nil:
		s.Log.ErrorContext(ctx, "recovery", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	// The lost phone stops working now, not when the new passkey exists:
	// every passkey and every session of the account is revoked. The flow
	// below lets this browser create the replacement.
	if _, err := s.Passkeys.RemoveAll(ctx, resident.ID); err != nil {
		s.Log.ErrorContext(ctx, "recovery: revoking passkeys", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	if _, err := s.Sessions.RevokeAll(ctx, resident.ID, ""); err != nil {
		s.Log.ErrorContext(ctx, "recovery: revoking sessions", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	if err := s.flows.start(ctx, s.flow(w, r), purposeRecover, resident.ID); err != nil {
		s.Log.ErrorContext(ctx, "recovery flow", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	http.Redirect(w, r, "/recover/passkey", http.StatusSeeOther)
}

func (s *Server) switchLanguage(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	lang, ok := matchLanguage(r.PostFormValue("lang"))
	if !ok {
		lang = English
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPathAndQuery(r.PostFormValue("next")), http.StatusSeeOther)
}

// localPath keeps redirects on this site: only absolute paths, no
// scheme-relative "//host" or backslash tricks.
func localPath(p string) string {
	u, ok := localURL(p)
	if !ok {
		return "/"
	}
	return u.Path
}

// localPathAndQuery is localPath keeping the query string, for pages whose
// state is in it (the login page's return path, the consent page's
// request).
func localPathAndQuery(p string) string {
	u, ok := localURL(p)
	if !ok {
		return "/"
	}
	if u.RawQuery == "" || !printableASCII(u.RawQuery) {
		return u.Path
	}
	return u.Path + "?" + u.RawQuery
}

func localURL(p string) (*url.URL, bool) {
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(p, "/") ||
		strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return nil, false
	}
	return u, true
}

// maxNextLen bounds a return path; the provider's are short.
const maxNextLen = 512

// authorizePath accepts p as a return path after login only if it is a
// path on this site under /authorize/ (the provider resuming a pending
// authorization), with its query, or the signing approval page /sign?…
// (a service sent the resident there to approve a signature). Everything else — other paths, absolute
// and scheme-relative URLs, backslashes, any percent-encoding in the path
// (encoded slashes, backslashes, dots), dot segments, control characters,
// fragments — is refused:
// the login page must never become an open redirector (RFC 9700 §4.11).
func authorizePath(p string) (string, bool) {
	const prefix, signPage = "/authorize/", "/sign?"
	if len(p) > maxNextLen || !strings.HasPrefix(p, prefix) && !strings.HasPrefix(p, signPage) || !printableASCII(p) || strings.ContainsAny(p, "\\#") {
		return "", false
	}
	rawPath, _, _ := strings.Cut(p, "?")
	if strings.Contains(rawPath, "%") {
		// The provider's paths need no percent-encoding; "%2F%2F", "%5C"
		// or "%2E%2E" could only be a trick that a browser or proxy later
		// turns into something else.
		return "", false
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil || u.Path != rawPath {
		return "", false
	}
	for _, seg := range strings.Split(u.Path[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
	}
	return p, true
}

// printableASCII reports whether s has only visible ASCII characters:
// browsers drop tabs and newlines from URLs ("/\t/evil" becomes "//evil").
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
