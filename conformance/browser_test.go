package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// tab is one browser tab in a browser context of its own: its own cookies,
// as if it were another phone.
type tab struct {
	t    *testing.T
	ctx  context.Context // bounded: a hung ceremony fails the test, not the run
	base string          // http://localhost:PORT
	// noAutofill is the script that hides passkey autofill ("": none).
	noAutofill page.ScriptIdentifier
}

// tabTimeout bounds everything one tab does.
const tabTimeout = 90 * time.Second

func newTab(t *testing.T, base string) *tab {
	t.Helper()
	needBrowser(t)
	tctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	// The tab is opened by a call without a deadline; the deadline is for
	// the steps after it.
	if err := chromedp.Do(tctx); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	ctx, cancelSteps := context.WithTimeout(tctx, tabTimeout)
	t.Cleanup(func() { cancelSteps(); cancel() })
	tb := &tab{t: t, ctx: ctx, base: base}
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{EnableUI: new(false)}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	tb.passkeyAutofill(false)
	return tb
}

// hideAutofill makes the page's browser one without passkey autofill
// (conditional mediation), as many still are.
const hideAutofill = `if (window.PublicKeyCredential) {
	Object.defineProperty(PublicKeyCredential, "isConditionalMediationAvailable",
		{value: () => Promise.resolve(false), configurable: true});
}`

// passkeyAutofill turns the browser's passkey autofill on or off for the
// pages loaded next. With it on, the login page's autofill request
// completes by itself: the virtual authenticator picks its credential at
// once, where a phone would wait for the resident to choose it. With it
// off, only the "Log in with a passkey" button logs in, which is what
// most tests want, so that is the default.
func (tb *tab) passkeyAutofill(on bool) {
	tb.t.Helper()
	if on {
		if tb.noAutofill != "" {
			if _, err := chromedp.Call(tb.ctx, page.RemoveScriptToEvaluateOnNewDocument,
				page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: tb.noAutofill}); err != nil {
				tb.fatalf("Page.removeScriptToEvaluateOnNewDocument: %v", err)
			}
			tb.noAutofill = ""
		}
		return
	}
	if tb.noAutofill == "" {
		res, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: hideAutofill})
		if err != nil {
			tb.fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
		}
		tb.noAutofill = res.Identifier
	}
}

// fatalf fails the test with what the page shows, which is what a person
// debugging it wants to see first.
func (tb *tab) fatalf(format string, args ...any) {
	tb.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	tb.t.Fatalf("%s\n--- page %s:\n%s", msg, loc, text)
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.fatalf("%v", err)
	}
}

// eval evaluates JavaScript in the page (awaiting a promise) and decodes
// its value.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fatalf("evaluating %.80q: %v", js, err)
	}
	return v
}

func (tb *tab) navigate(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base + path))
}

func (tb *tab) path() string {
	tb.t.Helper()
	return eval[string](tb, `location.pathname`)
}

// waitFor polls a JavaScript expression until it yields a non-empty
// string, across page loads (an expression that fails while a page is
// being replaced is simply tried again).
func (tb *tab) waitFor(what, js string) string {
	tb.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { try { return String((`+js+`) || ""); } catch (e) { return ""; } })()`))
		cancel()
		if err == nil && v != "" {
			return v
		}
		if time.Now().After(deadline) || tb.ctx.Err() != nil {
			tb.fatalf("waiting for %s: not reached (last error: %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitPath waits until the page at path has loaded.
func (tb *tab) waitPath(path string) {
	tb.t.Helper()
	tb.waitFor("page "+path, `location.pathname === `+jsString(path)+` && document.readyState === "complete" && "yes"`)
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, `(document.querySelector(`+jsString(sel)+`) || {innerText: `+jsString("(nothing matches "+sel+")")+`}).innerText.trim()`)
}

// jsString writes a Go string as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// bodyText is what the page says, without the markup.
func (tb *tab) bodyText() string {
	tb.t.Helper()
	return eval[string](tb, `document.body.innerText`)
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// clickAndLoad clicks something that loads a new page (a form's submit
// button) and waits until the new page has loaded.
func (tb *tab) clickAndLoad(sel string) {
	tb.t.Helper()
	eval[bool](tb, `window.__eidpOldPage = true`)
	tb.click(sel)
	tb.waitFor("a new page after clicking "+sel, `!window.__eidpOldPage && document.readyState === "complete" && "yes"`)
}

func (tb *tab) setValue(sel, v string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SetValue(chromedp.CSS(sel), v))
}

// untranslated matches the "!key!" the server renders for a missing message.
var untranslated = regexp.MustCompile(`![a-z_]+\.[a-z_.]+!`)

// checkPage asserts what every page must satisfy: the language it claims
// and no untranslated message.
func (tb *tab) checkPage(lang string) {
	tb.t.Helper()
	if got := eval[string](tb, `document.documentElement.lang`); got != lang {
		tb.fatalf("page language %q, want %q", got, lang)
	}
	if m := untranslated.FindString(tb.bodyText()); m != "" {
		tb.fatalf("untranslated message %s", m)
	}
}

// setLanguage makes the browser ask for a language (Accept-Language), as a
// phone set to that language does.
func (tb *tab) setLanguage(acceptLanguage string) {
	tb.t.Helper()
	ua := eval[string](tb, `navigator.userAgent`)
	if _, err := chromedp.Call(tb.ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: ua, AcceptLanguage: acceptLanguage,
	}); err != nil {
		tb.fatalf("Emulation.setUserAgentOverride: %v", err)
	}
}

// cookie returns the value of the site's cookie name ("" if none).
func (tb *tab) cookie(name string) string {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{tb.base + "/"}})
	if err != nil {
		tb.fatalf("Network.getCookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// ---- the virtual authenticator (the resident's phone) -----------------

type authenticator struct {
	tb *tab
	ID cdpwebauthn.AuthenticatorID
}

// addAuthenticator adds a platform authenticator with user verification
// and resident keys to the tab, like a phone's: CTAP2.1, internal
// transport, the user always verified. automaticPresenceSimulation must be
// set explicitly: left false, create() waits for a touch that never comes.
func (tb *tab) addAuthenticator() *authenticator {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                cdpwebauthn.Ctap2versionCtap21,
			Transport:                   cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		tb.fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return &authenticator{tb: tb, ID: res.AuthenticatorID}
}

func (a *authenticator) credentials() []*cdpwebauthn.Credential {
	a.tb.t.Helper()
	res, err := chromedp.Call(a.tb.ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: a.ID})
	if err != nil {
		a.tb.fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// only returns the authenticator's one credential.
func (a *authenticator) only() *cdpwebauthn.Credential {
	a.tb.t.Helper()
	creds := a.credentials()
	if len(creds) != 1 {
		a.tb.fatalf("the authenticator holds %d credentials, want 1", len(creds))
	}
	return creds[0]
}

// addCredential puts a copy of a credential (private key included) on the
// authenticator, as a cloned or restored phone would hold it. The command
// is sent by hand: cdproto's Credential always carries the
// generateCmtgKeyOnNextOperation field, which Chromium refuses for an
// authenticator without the cmtgKey extension.
func (a *authenticator) addCredential(c *cdpwebauthn.Credential) {
	a.tb.t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	params := map[string]any{
		"authenticatorId": a.ID,
		"credential": map[string]any{
			"credentialId":         b64(c.CredentialID),
			"isResidentCredential": c.IsResidentCredential,
			"rpId":                 c.RpID,
			"privateKey":           b64(c.PrivateKey),
			"userHandle":           b64(c.UserHandle),
			"signCount":            c.SignCount,
			"backupEligibility":    c.BackupEligibility,
			"backupState":          c.BackupState,
		},
	}
	err := chromedp.Do(a.tb.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		return t.Call(ctx, "WebAuthn.addCredential", params, nil)
	}))
	if err != nil {
		a.tb.fatalf("WebAuthn.addCredential: %v", err)
	}
}

func (a *authenticator) remove() {
	a.tb.t.Helper()
	if _, err := chromedp.Call(a.tb.ctx, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: a.ID}); err != nil {
		a.tb.fatalf("WebAuthn.removeVirtualAuthenticator: %v", err)
	}
}

// setBadUV makes the authenticator clear the UV flag in what it signs
// (the assertion is still validly signed), or stops doing so.
func (a *authenticator) setBadUV(bad bool) {
	a.tb.t.Helper()
	if _, err := chromedp.Call(a.tb.ctx, cdpwebauthn.SetResponseOverrideBits, cdpwebauthn.SetResponseOverrideBitsParams{
		AuthenticatorID: a.ID, IsBadUV: new(bad),
	}); err != nil {
		a.tb.fatalf("WebAuthn.setResponseOverrideBits: %v", err)
	}
}

// credID is a credential ID as the server and the account page write it.
func credID(c *cdpwebauthn.Credential) string {
	return base64.RawURLEncoding.EncodeToString(c.CredentialID)
}

// ---- the resident's steps ----------------------------------------------

// person is someone in the demo civil register (idp/proofing/doc.go).
type person struct {
	IDNumber, BirthDate, Name string
	// Profile is how the account page's "Name" line shows them.
	Profile string
}

var (
	chanTaiMan   = person{"A123456(3)", "1985-04-12", "CHAN Tai Man", "CHAN Tai Man"}
	wongKaHo     = person{"AB987654(3)", "1962-11-03", "WONG Ka Ho", "WONG Ka Ho"}
	hoWingSze    = person{"G123456(A)", "2001-07-19", "HO Wing Sze", "HO Wing Sze"}
	fernandes    = person{"R207716(6)", "1990-02-28", "FERNANDES Maria Clara", "FERNANDES Maria Clara"}
	cheungAlex   = person{"Y305517(3)", "1999-12-31", "CHEUNG Alex Chi Ho", "CHEUNG Alex Chi Ho"}
	gurungThomas = person{"K045825(2)", "1935-09-11", "GURUNG Thomas", "GURUNG Thomas"}
	lamYauChing  = person{"XB833365(3)", "1939-09-29", "林柔晶", "LAM Yau Ching"} // proofed by the Chinese name
	lauYin       = person{"G074325(8)", "1993-02-13", "LAU Yin", "LAU Yin"}
)

// fillIdentity fills the identity fields of the register or recover form.
func (tb *tab) fillIdentity(p person) {
	tb.t.Helper()
	tb.setValue("#id_number", p.IDNumber)
	tb.setValue("#birth_date", p.BirthDate)
	tb.setValue("#name", p.Name)
}

// submitForm submits the page's main form (not the language toggle).
func (tb *tab) submitForm() {
	tb.t.Helper()
	tb.clickAndLoad(`main form button[type=submit]`)
}

// proof fills the register form and submits it; the passkey page follows.
func (tb *tab) proof(p person) {
	tb.t.Helper()
	tb.navigate("/register")
	tb.fillIdentity(p)
	tb.submitForm()
	tb.waitPath("/register/passkey")
}

// createPasskey clicks "Create passkey" and returns the recovery codes the
// page then shows (none for a recovery).
func (tb *tab) createPasskey(wantCodes bool) []string {
	tb.t.Helper()
	tb.click("#create-passkey")
	if !wantCodes {
		tb.waitFor("the account page", `location.pathname === "/account" && document.readyState === "complete" ? "yes" : (document.querySelector("#ceremony-status.error") || {}).textContent`)
		if tb.path() != "/account" {
			tb.fatalf("no passkey created: %s", tb.text("#ceremony-status"))
		}
		return nil
	}
	got := tb.waitFor("the recovery codes", `document.querySelector("#recovery-codes code") ? "codes" : (document.querySelector("#ceremony-status.error") || {}).textContent`)
	if got != "codes" {
		tb.fatalf("no passkey created: %s", got)
	}
	return eval[[]string](tb, `[...document.querySelectorAll("#recovery-codes code")].map(c => c.textContent)`)
}

// register runs the whole registration: proofing, passkey, recovery codes,
// then the account page.
func (tb *tab) register(p person) []string {
	tb.t.Helper()
	tb.proof(p)
	codes := tb.createPasskey(true)
	tb.click("#codes-continue")
	tb.waitPath("/account")
	return codes
}

// login clicks "Log in with a passkey" on the login page and reports
// whether the account page followed, or else the message the page showed.
// A failed login must not have set a session cookie.
func (tb *tab) login() (ok bool, message string) {
	tb.t.Helper()
	before := tb.cookie("eidp_session")
	tb.navigate("/login")
	tb.waitPath("/login")
	tb.do(chromedp.WaitEnabled(chromedp.ID("login-passkey")))
	tb.click("#login-passkey")
	got := tb.waitFor("the end of the login", `location.pathname === "/account" && document.readyState === "complete" ? "OK" :
		(document.querySelector("#login-status.error") ? "ERR" + document.querySelector("#login-status").textContent : "")`)
	if got == "OK" {
		return true, ""
	}
	if tb.cookie("eidp_session") != before {
		tb.fatalf("a failed login set a session cookie")
	}
	return false, strings.TrimPrefix(got, "ERR")
}

func (tb *tab) mustLogin() {
	tb.t.Helper()
	if ok, msg := tb.login(); !ok {
		tb.fatalf("login failed: %s", msg)
	}
}

// logout clicks "Log out" in the header.
func (tb *tab) logout() {
	tb.t.Helper()
	tb.clickAndLoad(`header form[action="/logout"] button`)
	tb.waitPath("/")
	if tb.cookie("eidp_session") != "" {
		tb.fatalf("still a session cookie after logging out")
	}
}

// account is what the account page shows.
type account struct {
	Heading  string
	Notice   string
	Profile  map[string]string // dt → dd
	Passkeys []passkeyCard
	Sessions []string
	Activity []string
	Codes    string // "Unused recovery codes: n"
}

type passkeyCard struct {
	ID      string // data-credential
	Title   string
	Blocked string // the alert inside the card, if any
	Remove  bool   // the Remove button is enabled
}

const readAccount = `(() => {
	const q = s => [...document.querySelectorAll(s)];
	const profile = {};
	q(".profile dt").forEach(dt => { profile[dt.textContent.trim()] = dt.nextElementSibling.textContent.trim(); });
	return {
		Heading: document.querySelector("h1").innerText.trim(),
		Notice: (document.querySelector(".alert.notice") || {innerText: ""}).innerText.trim(),
		Profile: profile,
		Passkeys: q("#passkeys > li").map(li => ({
			ID: li.dataset.credential,
			Title: li.querySelector(".card-title").innerText.trim(),
			Blocked: (li.querySelector(".alert.error") || {innerText: ""}).innerText.trim(),
			Remove: !li.querySelector('form[action="/account/passkeys/remove"] button').disabled,
		})),
		Sessions: q("#sessions > li .card-title").map(e => e.innerText.trim()),
		Activity: q("#activity li span").map(e => e.innerText.trim()),
		Codes: (document.querySelector('#recovery-h + p') || {innerText: ""}).innerText.trim(),
	};
})()`

// account loads the account page (the browser must be logged in).
func (tb *tab) account() account {
	tb.t.Helper()
	if tb.path() != "/account" {
		tb.navigate("/account")
	}
	tb.waitPath("/account")
	return eval[account](tb, readAccount)
}

func (a account) passkeyIDs() []string {
	var ids []string
	for _, p := range a.Passkeys {
		ids = append(ids, p.ID)
	}
	return ids
}

// notLoggedIn asserts that the browser has no session: the account page
// sends it to the login page. (A browser whose session was revoked
// elsewhere still holds the dead cookie; the server ignores it.)
func (tb *tab) notLoggedIn() {
	tb.t.Helper()
	tb.navigate("/account")
	tb.waitPath("/login")
}
