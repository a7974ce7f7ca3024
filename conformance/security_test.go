package conformance

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestUserVerificationIsEnforcedByTheServer: an assertion whose UV flag is
// clear — validly signed, so only the flag is wrong — is refused by the
// server, not only by the browser. Chromium's setUserVerified(false) would
// never reach the server; the response override bits do.
func TestUserVerificationIsEnforcedByTheServer(t *testing.T) {
	srv := sharedServer(t)
	tb := newTab(t, srv.URL)
	phone := tb.addAuthenticator()
	tb.register(fernandes)
	tb.logout()

	phone.setBadUV(true)
	mark := srv.logs.mark()
	if ok, msg := tb.login(); ok || msg != msgLoginFailed {
		tb.fatalf("an assertion without UV: logged in %v, message %q; want %q", ok, msg, msgLoginFailed)
	}
	srv.logged(t, mark, "login rejected", "the UV flag is not set")
	tb.notLoggedIn()

	// The same passkey with UV logs in: the refusal was for the flag alone.
	phone.setBadUV(false)
	tb.mustLogin()
	if acct := tb.account(); acct.Profile["Name"] != fernandes.Profile {
		tb.fatalf("logged in as %q", acct.Profile["Name"])
	}
}

// apiClient is a second browser flow that is not a browser: a Go HTTP
// client with its own cookies (its own flow cookie and CSRF token).
type apiClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

func newAPIClient(t *testing.T, base string) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	a := &apiClient{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	status, body := a.get("/")
	m := csrfMeta.FindStringSubmatch(body)
	if status != 200 || m == nil {
		t.Fatalf("GET /: %d, no CSRF token", status)
	}
	a.csrf = m[1]
	return a
}

func (a *apiClient) get(path string) (int, string) {
	a.t.Helper()
	resp, err := a.c.Get(a.base + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 3 {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

func (a *apiClient) post(path, body string) (int, string) {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", a.csrf)
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (a *apiClient) hasSession() bool {
	u, _ := url.Parse(a.base)
	for _, c := range a.c.Jar.Cookies(u) {
		if c.Name == "eidp_session" {
			return true
		}
	}
	return false
}

// apiError is the JSON error of the ceremony API.
type apiError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func wantAPIError(t *testing.T, what string, status int, body string, wantStatus int, wantDescription string) {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || status != wantStatus || e.Error == "" || e.Description != wantDescription {
		t.Fatalf("%s: HTTP %d %s; want %d with a JSON error saying %q", what, status, body, wantStatus, wantDescription)
	}
}

// signInPage runs navigator.credentials.get in the tab's current page
// with the given request options and returns credential.toJSON().
func signInPage(tb *tab, optionsJSON string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(async () => {
		const o = %s;
		const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.publicKey || o)});
		return JSON.stringify(cred.toJSON());
	})()`, optionsJSON))
}

// clientData decodes the clientDataJSON of a credential.toJSON() result.
func clientData(t *testing.T, credJSON string) (typ, challenge, origin string) {
	t.Helper()
	var c struct {
		Response struct {
			ClientDataJSON string `json:"clientDataJSON"`
		} `json:"response"`
	}
	json.Unmarshal([]byte(credJSON), &c)
	raw, err := base64.RawURLEncoding.DecodeString(c.Response.ClientDataJSON)
	if err != nil {
		t.Fatalf("clientDataJSON: %v", err)
	}
	var cd struct{ Type, Challenge, Origin string }
	if err := json.Unmarshal(raw, &cd); err != nil {
		t.Fatalf("clientDataJSON: %v", err)
	}
	return cd.Type, cd.Challenge, cd.Origin
}

func challengeOf(t *testing.T, optionsJSON string) string {
	t.Helper()
	var o struct {
		Challenge string
		PublicKey *struct{ Challenge string } `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(optionsJSON), &o); err != nil {
		t.Fatalf("login options: %v\n%s", err, optionsJSON)
	}
	if o.PublicKey != nil {
		return o.PublicKey.Challenge
	}
	return o.Challenge
}

// TestReplayedAndForeignAssertionsAreRefused: a login assertion works once,
// in the browser flow it was asked for, and only from the site's own
// origin.
func TestReplayedAndForeignAssertionsAreRefused(t *testing.T) {
	srv := sharedServer(t)
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(cheungAlex)
	tb.logout()

	t.Run("replay", func(t *testing.T) {
		// The page's own API calls, made by hand on the welcome page (it
		// runs no ceremony of its own): options, then the browser signs.
		tb.navigate("/")
		cred := eval[string](tb, `(async () => {
			const csrf = document.querySelector('meta[name="csrf-token"]').content;
			const r = await fetch("/api/passkey/login/options", {method: "POST",
				headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: "{}"});
			const o = await r.json();
			const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.publicKey || o)});
			return JSON.stringify(cred.toJSON());
		})()`)
		body := `{"response":` + cred + `}`

		// Presented in another flow (another browser's cookies) first: the
		// challenge is not that flow's, and the attempt does not use it up.
		other := newAPIClient(t, srv.URL)
		mark := srv.logs.mark()
		status, resp := other.post("/api/passkey/login", body)
		wantAPIError(t, "the assertion in another flow", status, resp, 400, msgLoginFailed)
		srv.logged(t, mark, "login rejected", "no matching ceremony")
		if other.hasSession() {
			t.Fatal("the other flow got a session")
		}

		// In its own flow: accepted once, then refused.
		type result struct {
			Status int
			Body   string
		}
		mark = srv.logs.mark()
		got := eval[[]result](tb, fmt.Sprintf(`(async () => {
			const csrf = document.querySelector('meta[name="csrf-token"]').content;
			const out = [];
			for (let i = 0; i < 2; i++) {
				const r = await fetch("/api/passkey/login", {method: "POST",
					headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: %s});
				out.push({Status: r.status, Body: await r.text()});
			}
			return out;
		})()`, jsString(body)))
		if got[0].Status != 200 || !strings.Contains(got[0].Body, `"/account"`) {
			tb.fatalf("the genuine assertion: HTTP %d %s", got[0].Status, got[0].Body)
		}
		wantAPIError(t, "the replayed assertion", got[1].Status, got[1].Body, 400, msgLoginFailed)
		srv.logged(t, mark, "login rejected", "no matching ceremony")

		// The replay made no second session.
		acct := tb.account()
		if len(acct.Sessions) != 1 {
			tb.fatalf("sessions %q: the replay must not log in", acct.Sessions)
		}
		tb.logout()
	})

	t.Run("other origin", func(t *testing.T) {
		// A relaying phishing page: it is served from another origin that
		// the browser accepts for the same RP ID ("localhost" here; a
		// lookalike subdomain in production), fetches a genuine challenge
		// from the real site, has the resident sign it, and relays the
		// answer. The assertion is then genuine in every respect — key,
		// signature, challenge, flow, UV — except clientDataJSON.origin,
		// which the browser sets and the page cannot forge. The server must
		// refuse it for that alone; the same relay from the real origin is
		// accepted below, so nothing else is at fault.
		phish := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, `<!doctype html><html lang="en"><title>City eID</title><p>Log in to City eID</p></html>`)
		}))
		defer phish.Close()
		phishOrigin := "http://localhost:" + phish.URL[strings.LastIndex(phish.URL, ":")+1:]

		attacker := newAPIClient(t, srv.URL)
		status, opts := attacker.post("/api/passkey/login/options", "{}")
		if status != 200 {
			t.Fatalf("login options: HTTP %d %s", status, opts)
		}
		tb.do(chromedp.Navigate(phishOrigin + "/"))
		cred := signInPage(tb, opts)
		typ, challenge, origin := clientData(t, cred)
		if typ != "webauthn.get" || challenge != challengeOf(t, opts) || origin != phishOrigin {
			t.Fatalf("clientData type %q challenge %q origin %q; want webauthn.get, the server's challenge, %s", typ, challenge, origin, phishOrigin)
		}
		mark := srv.logs.mark()
		status, resp := attacker.post("/api/passkey/login", `{"response":`+cred+`}`)
		wantAPIError(t, "an assertion made on "+phishOrigin, status, resp, 400, msgLoginFailed)
		srv.logged(t, mark, "login rejected", "Error validating origin", "Received: "+phishOrigin)
		if attacker.hasSession() {
			t.Fatal("the relayed assertion got a session")
		}
		if status, loc := attacker.get("/account"); status != http.StatusSeeOther || loc != "/login" {
			t.Fatalf("GET /account after the relayed assertion: %d %s; want a redirect to /login", status, loc)
		}

		// The control: the same relay, signed on the real origin.
		status, opts = attacker.post("/api/passkey/login/options", "{}")
		if status != 200 {
			t.Fatalf("login options: HTTP %d %s", status, opts)
		}
		tb.navigate("/")
		cred = signInPage(tb, opts)
		if _, _, origin := clientData(t, cred); origin != srv.URL {
			t.Fatalf("clientData origin %q, want %s", origin, srv.URL)
		}
		status, resp = attacker.post("/api/passkey/login", `{"response":`+cred+`}`)
		if status != 200 || !attacker.hasSession() {
			t.Fatalf("the assertion from the real origin: HTTP %d %s, session %v", status, resp, attacker.hasSession())
		}
		if status, body := attacker.get("/account"); status != 200 || !strings.Contains(body, cheungAlex.Profile) {
			t.Fatalf("GET /account: %d", status)
		}
	})
}

// TestSignCountRegressionBlocksThePasskey: a copy of a passkey whose
// signature counter lags behind the server's (a cloned authenticator) is
// refused and the passkey is blocked for good; the resident logs in with
// another passkey and sees it marked blocked.
func TestSignCountRegressionBlocksThePasskey(t *testing.T) {
	srv := sharedServer(t)
	tb := newTab(t, srv.URL)
	phone := tb.addAuthenticator()
	tb.register(gurungThomas)
	tb.logout()
	tb.mustLogin() // the counter moves on at every use
	tablet, phoneCred := tb.addSecondDevice(phone)
	tabletCred := tablet.only()
	tb.logout()
	tablet.remove()

	// The server has seen phoneCred.SignCount last. A clone that is two
	// uses behind answers with a counter one below it.
	if phoneCred.SignCount < 2 {
		tb.fatalf("the phone's counter is %v; the test needs it to count", phoneCred.SignCount)
	}
	clone := *phoneCred
	clone.SignCount = phoneCred.SignCount - 2
	cloned := tb.addAuthenticator()
	cloned.addCredential(&clone)
	if ok, msg := tb.login(); ok || msg != msgLoginBlocked {
		tb.fatalf("a regressed counter: logged in %v, message %q; want %q", ok, msg, msgLoginBlocked)
	}
	tb.notLoggedIn()

	// Blocked for good: even a counter far ahead is refused now.
	cloned.remove()
	ahead := *phoneCred
	ahead.SignCount = phoneCred.SignCount + 100
	cloned = tb.addAuthenticator()
	cloned.addCredential(&ahead)
	if ok, msg := tb.login(); ok || msg != msgLoginBlocked {
		tb.fatalf("the blocked passkey later: logged in %v, message %q; want %q", ok, msg, msgLoginBlocked)
	}
	tb.notLoggedIn()

	// The other passkey works, and the account shows the first blocked.
	cloned.remove()
	tablet = tb.addAuthenticator()
	tablet.addCredential(tabletCred)
	tb.mustLogin()
	acct := tb.account()
	i := slices.IndexFunc(acct.Passkeys, func(p passkeyCard) bool { return p.ID == credID(phoneCred) })
	j := slices.IndexFunc(acct.Passkeys, func(p passkeyCard) bool { return p.ID == credID(tabletCred) })
	if len(acct.Passkeys) != 2 || i < 0 || j < 0 {
		tb.fatalf("account passkeys %q, want the blocked phone's and the tablet's", acct.passkeyIDs())
	}
	if !strings.HasPrefix(acct.Passkeys[i].Blocked, "Blocked") || acct.Passkeys[j].Blocked != "" {
		tb.fatalf("blocked marks: phone %q, tablet %q", acct.Passkeys[i].Blocked, acct.Passkeys[j].Blocked)
	}
	if !slices.Contains(acct.Activity, "Passkey blocked") {
		tb.fatalf("activity %q lacks the block", acct.Activity)
	}
	// Recorded once, when the clone gave itself away, not on every later try.
	blocks := 0
	for _, a := range acct.Activity {
		if a == "Passkey blocked" {
			blocks++
		}
	}
	if blocks != 1 {
		tb.fatalf("the block is recorded more than once: %q", acct.Activity)
	}
}
