package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"eidp/idp/account"
	"eidp/idp/passkey/passkeytest"
	"eidp/idp/proofing"
	"eidp/internal/testenv"
)

// The resident's journeys over HTTP, with a software authenticator in place
// of the phone: what the browser tests in conformance/ prove with Chromium,
// here fast enough to run on every engine for every change.

// chan Tai Man is the first demo person (idp/proofing/doc.go).
var chanTaiMan = url.Values{"id_number": {"A123456(3)"}, "birth_date": {"1985-04-12"}, "name": {"CHAN Tai Man"}}

func (st *site) origin() string {
	return "http://localhost:" + st.ts.URL[strings.LastIndex(st.ts.URL, ":")+1:]
}

// csrf loads a page so the browser has a flow cookie, and returns its token.
func (st *site) csrf(t *testing.T, c *http.Client) string {
	t.Helper()
	_, _, token := st.get(t, c, "/login")
	return token
}

func withCSRF(v url.Values, token string) url.Values {
	out := url.Values{"csrf": {token}}
	for k, vs := range v {
		out[k] = vs
	}
	return out
}

// ceremony posts JSON and decodes the answer, failing the test on an error status.
func (st *site) ceremony(t *testing.T, c *http.Client, token, path string, body any) json.RawMessage {
	t.Helper()
	b, _ := json.Marshal(body)
	status, resp := st.postJSON(t, c, path, "application/json", token, string(b))
	if status != http.StatusOK {
		t.Fatalf("%s: %d %s", path, status, resp)
	}
	return json.RawMessage(resp)
}

func (st *site) createPasskey(t *testing.T, c *http.Client, token string, a *passkeytest.Authenticator, purpose string) ceremonyResult {
	t.Helper()
	opts := st.ceremony(t, c, token, "/api/passkey/register/options", map[string]string{"purpose": purpose})
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatalf("authenticator create: %v", err)
	}
	var result ceremonyResult
	json.Unmarshal(st.ceremony(t, c, token, "/api/passkey/register", map[string]any{"purpose": purpose, "response": json.RawMessage(resp)}), &result)
	return result
}

func (st *site) login(t *testing.T, c *http.Client, token string, a *passkeytest.Authenticator) (int, string) {
	t.Helper()
	opts := st.ceremony(t, c, token, "/api/passkey/login/options", nil)
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatalf("authenticator get: %v", err)
	}
	b, _ := json.Marshal(map[string]any{"response": json.RawMessage(resp)})
	return st.postJSON(t, c, "/api/passkey/login", "application/json", token, string(b))
}

func (st *site) register(t *testing.T, c *http.Client, a *passkeytest.Authenticator, person url.Values) ceremonyResult {
	t.Helper()
	token := st.csrf(t, c)
	resp, body := st.postForm(t, c, "/register", withCSRF(person, token))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/register/passkey" {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	if code, _, _ := st.get(t, c, "/register/passkey"); code != http.StatusOK {
		t.Fatalf("passkey page: %d", code)
	}
	return st.createPasskey(t, c, token, a, "register")
}

func TestResidentJourneys(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			st := newSite(t, d.URL)
			phone := passkeytest.NewAuthenticator(st.origin())
			c := st.browser(t)

			result := st.register(t, c, phone, chanTaiMan)
			if len(result.RecoveryCodes) != 10 || result.Redirect != "/account" {
				t.Fatalf("registration result: %+v", result)
			}
			code, page, token := st.get(t, c, "/account")
			if code != 200 || !strings.Contains(page, "Tai Man") || !strings.Contains(page, "A123***(3)") ||
				strings.Count(page, `data-credential=`) != 1 || !strings.Contains(page, "eID created") {
				t.Fatalf("account after registration: %d\n%s", code, page)
			}

			t.Run("log out and log in again without a user name", func(t *testing.T) {
				st.postForm(t, c, "/logout", url.Values{"csrf": {token}})
				if code, _, _ := st.get(t, c, "/account"); code != http.StatusSeeOther {
					t.Fatalf("account after logout: %d", code)
				}
				if status, body := st.login(t, c, token, phone); status != 200 || !strings.Contains(body, "/account") {
					t.Fatalf("login: %d %s", status, body)
				}
				if code, page, _ := st.get(t, c, "/account"); code != 200 || !strings.Contains(page, "Logged in") {
					t.Fatalf("account after login: %d", code)
				}
				// Logging in again in the same browser replaces its session.
				if status, _ := st.login(t, c, token, phone); status != 200 {
					t.Fatalf("second login: %d", status)
				}
				if _, page, _ := st.get(t, c, "/account"); strings.Count(page, `action="/account/sessions/revoke"`) != 1 {
					t.Fatalf("one browser shows %d sessions", strings.Count(page, `action="/account/sessions/revoke"`))
				}
			})

			t.Run("a replayed assertion is refused", func(t *testing.T) {
				b, _ := json.Marshal(map[string]any{"response": json.RawMessage(phone.LastResponse())})
				if status, body := st.postJSON(t, c, "/api/passkey/login", "application/json", token, string(b)); status != http.StatusBadRequest {
					t.Fatalf("replay: %d %s", status, body)
				}
			})

			t.Run("an assertion for another origin is refused", func(t *testing.T) {
				other := st.browser(t)
				otoken := st.csrf(t, other)
				phone.SetOrigin("http://localhost:1")
				defer phone.SetOrigin(st.origin())
				if status, _ := st.login(t, other, otoken, phone); status != http.StatusBadRequest {
					t.Fatalf("foreign origin: %d", status)
				}
			})

			t.Run("an assertion without user verification is refused", func(t *testing.T) {
				other := st.browser(t)
				otoken := st.csrf(t, other)
				phone.SetUserVerified(false)
				defer phone.SetUserVerified(true)
				if status, _ := st.login(t, other, otoken, phone); status != http.StatusBadRequest {
					t.Fatalf("UV=0: %d", status)
				}
				if code, _, _ := st.get(t, other, "/account"); code != http.StatusSeeOther {
					t.Fatal("a session was created")
				}
			})

			t.Run("the same identity cannot open a second account", func(t *testing.T) {
				other := st.browser(t)
				otoken := st.csrf(t, other)
				resp, body := st.postForm(t, other, "/register", withCSRF(chanTaiMan, otoken))
				if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already have an eID") {
					t.Fatalf("second registration: %d", resp.StatusCode)
				}
			})

			t.Run("another device is added after a fresh passkey check", func(t *testing.T) {
				tablet := passkeytest.NewAuthenticator(st.origin(), passkeytest.WithBackupEligible(true))
				// Without the fresh check, no registration options.
				if status, _ := st.postJSON(t, c, "/api/passkey/register/options", "application/json", token, `{"purpose":"add"}`); status != http.StatusForbidden {
					t.Fatalf("add without reauth: %d", status)
				}
				opts := st.ceremony(t, c, token, "/api/passkey/reauth/options", nil)
				resp, err := phone.Get(opts)
				if err != nil {
					t.Fatal(err)
				}
				st.ceremony(t, c, token, "/api/passkey/reauth", map[string]any{"response": json.RawMessage(resp)})
				if r := st.createPasskey(t, c, token, tablet, "add"); r.Redirect != "/account?done=added" {
					t.Fatalf("add: %+v", r)
				}
				_, page, _ := st.get(t, c, "/account")
				if strings.Count(page, `data-credential=`) != 2 || !strings.Contains(page, "Synced passkey") {
					t.Fatalf("account with two passkeys:\n%s", page)
				}
			})

			t.Run("recovery with a code revokes the old passkeys and sessions", func(t *testing.T) {
				newPhone := passkeytest.NewAuthenticator(st.origin())
				b := st.browser(t)
				btoken := st.csrf(t, b)
				form := withCSRF(chanTaiMan, btoken)
				form.Set("code", strings.ToLower(result.RecoveryCodes[0]))
				resp, body := st.postForm(t, b, "/recover", form)
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/recover/passkey" {
					t.Fatalf("recover: %d %s", resp.StatusCode, body)
				}
				if code, _, _ := st.get(t, c, "/account"); code != http.StatusSeeOther {
					t.Fatal("the old session survived the recovery")
				}
				// While the account has no passkey, identity proofing alone
				// must not let anyone else attach one.
				thief := st.browser(t)
				resp, _ = st.postForm(t, thief, "/register", withCSRF(chanTaiMan, st.csrf(t, thief)))
				if resp.StatusCode != http.StatusConflict {
					t.Fatalf("registration during a recovery: %d", resp.StatusCode)
				}
				if r := st.createPasskey(t, b, btoken, newPhone, "recover"); r.Redirect != "/account?done=recovered" {
					t.Fatalf("recovery passkey: %+v", r)
				}
				_, page, _ := st.get(t, b, "/account")
				if strings.Count(page, `data-credential=`) != 1 || !strings.Contains(page, "recovered on a new device") {
					t.Fatalf("account after recovery:\n%s", page)
				}
				old := st.browser(t)
				if status, _ := st.login(t, old, st.csrf(t, old), phone); status != http.StatusBadRequest {
					t.Fatalf("the old phone still logs in: %d", status)
				}
				// The code was used: a second recovery with it fails like any wrong detail.
				again := st.browser(t)
				form.Set("csrf", st.csrf(t, again))
				resp, body = st.postForm(t, again, "/recover", form)
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "could not verify") {
					t.Fatalf("reused code: %d", resp.StatusCode)
				}
			})
		})
	}
}

func TestASuspendedAccountIsLoggedOut(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	c := st.browser(t)
	st.register(t, c, passkeytest.NewAuthenticator(st.origin()), chanTaiMan)
	if code, _, _ := st.get(t, c, "/account"); code != 200 {
		t.Fatalf("account: %d", code)
	}
	resident, err := st.Accounts.ByIDNumber(context.Background(), "A1234563")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Accounts.SetStatus(context.Background(), resident.ID, account.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := st.get(t, c, "/account"); code != http.StatusSeeOther {
		t.Fatalf("a suspended account still sees its page: %d", code)
	}
}

func TestAnAbandonedRegistrationCanBeResumed(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	wong := url.Values{"id_number": {"AB987654(3)"}, "birth_date": {"1962-11-03"}, "name": {"WONG Ka Ho"}}
	first := st.browser(t)
	if resp, _ := st.postForm(t, first, "/register", withCSRF(wong, st.csrf(t, first))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first attempt: %d", resp.StatusCode)
	}
	// The phone died before the passkey was made; the resident tries again elsewhere.
	second := st.browser(t)
	if result := st.register(t, second, passkeytest.NewAuthenticator(st.origin()), wong); len(result.RecoveryCodes) != 10 {
		t.Fatalf("resumed registration: %+v", result)
	}
	var n int
	st.DB.QueryRow(`SELECT count(*) FROM residents`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d accounts for one identity", n)
	}
}

func TestProofingErrorsNeitherEnumerateNorLeak(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	c := st.browser(t)
	token := st.csrf(t, c)
	post := func(v url.Values) (int, string) {
		resp, body := st.postForm(t, c, "/register", withCSRF(v, token))
		return resp.StatusCode, body
	}
	wrongBirth := url.Values{"id_number": {"A123456(3)"}, "birth_date": {"1985-04-13"}, "name": {"CHAN Tai Man"}}
	unknown := url.Values{"id_number": {validIDNumber(t, "Z999999")}, "birth_date": {"1985-04-12"}, "name": {"CHAN Tai Man"}}
	cancelled := url.Values{"id_number": {"K618025(6)"}, "birth_date": {"1972-09-30"}, "name": {"LEE Mei Ling"}}
	var first string
	for i, v := range []url.Values{wrongBirth, unknown, cancelled} {
		code, body := post(v)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "could not verify these details") {
			t.Fatalf("attempt %d: %d", i, code)
		}
		msg := body[strings.Index(body, `role="alert"`):]
		msg = msg[:strings.Index(msg, "</div>")]
		if first == "" {
			first = msg
		} else if msg != first {
			t.Fatalf("different messages reveal which detail was wrong: %q vs %q", first, msg)
		}
	}
	if code, body := post(url.Values{"id_number": {"A123456(4)"}, "birth_date": {"1985-04-12"}, "name": {"x"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "check digit does not match") {
		t.Fatalf("wrong check digit: %d", code)
	}
	// The identity is locked after repeated failures (5 by default), whatever else is tried.
	for range 4 { // the first wrong birth date above was failure 1
		post(wrongBirth)
	}
	if code, body := post(chanTaiMan); code != http.StatusUnprocessableEntity || !strings.Contains(body, "Too many attempts") {
		t.Fatalf("after repeated failures the right details must wait too: %d", code)
	}
}

// validIDNumber completes a prefix and six digits with the right check digit.
func validIDNumber(t *testing.T, body string) string {
	t.Helper()
	for _, c := range "0123456789A" {
		if n, err := proofing.NormalizeIDNumber(body + string(c)); err == nil {
			return n
		}
	}
	t.Fatalf("no check digit fits %s", body)
	return ""
}
