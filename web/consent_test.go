package web

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/idp/account"
	"eidp/idp/interaction"
	"eidp/idp/passkey/passkeytest"
	"eidp/idp/session"
	"eidp/internal/httpx"
	"eidp/internal/testenv"
)

// fakeOIDC stands in for the OpenID Provider behind interaction.Service:
// the seam these page tests need. The real provider is tested end to end
// against these pages elsewhere.
type fakeOIDC struct {
	mu       sync.Mutex
	prompts  map[string]fakePrompt
	consents map[string][]interaction.Consent // by resident
	approved []approveCall
	denied   []string
	revoked  []string
	langs    []string // the language of every call that has one
}

type fakePrompt struct {
	owner  string // resident ID
	prompt interaction.Prompt
	nameZH string // client_name#zh-Hant
}

type approveCall struct {
	id, resident string
	keep         []string
}

const (
	approvedRedirect = "https://library.example/cb?code=c0de&state=s1&iss=http%3A%2F%2Flocalhost"
	deniedRedirect   = "https://library.example/cb?error=access_denied&state=s1&iss=http%3A%2F%2Flocalhost"
)

func newFakeOIDC() *fakeOIDC {
	return &fakeOIDC{prompts: map[string]fakePrompt{}, consents: map[string][]interaction.Consent{}}
}

func (f *fakeOIDC) add(id, owner, nameZH string, p interaction.Prompt) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p.ID = id
	f.prompts[id] = fakePrompt{owner: owner, prompt: p, nameZH: nameZH}
}

// pending returns the request if it is sess's, as the provider checks.
func (f *fakeOIDC) pending(id string, sess session.Session) (fakePrompt, error) {
	p, ok := f.prompts[id]
	if !ok || p.owner != sess.ResidentID {
		return p, interaction.ErrNotFound
	}
	return p, nil
}

func (f *fakeOIDC) Consent(_ context.Context, id string, sess session.Session, lang string) (interaction.Prompt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.langs = append(f.langs, lang)
	p, err := f.pending(id, sess)
	if err != nil {
		return interaction.Prompt{}, err
	}
	out := p.prompt
	if lang == TraditionalChinese && p.nameZH != "" {
		out.Client.Name = p.nameZH
	}
	return out, nil
}

func (f *fakeOIDC) Approve(_ context.Context, id string, sess session.Session, keep []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.pending(id, sess); err != nil {
		return "", err
	}
	delete(f.prompts, id) // answered once
	f.approved = append(f.approved, approveCall{id: id, resident: sess.ResidentID, keep: keep})
	return approvedRedirect, nil
}

func (f *fakeOIDC) Deny(_ context.Context, id string, sess session.Session) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.pending(id, sess); err != nil {
		return "", err
	}
	delete(f.prompts, id)
	f.denied = append(f.denied, id)
	return deniedRedirect, nil
}

func (f *fakeOIDC) Consents(_ context.Context, residentID, lang string) ([]interaction.Consent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.langs = append(f.langs, lang)
	return slices.Clone(f.consents[residentID]), nil
}

func (f *fakeOIDC) Revoke(_ context.Context, residentID, clientID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.consents[residentID]
	i := slices.IndexFunc(list, func(c interaction.Consent) bool { return c.Client.ID == clientID })
	if i < 0 {
		return interaction.ErrNotFound
	}
	f.consents[residentID] = slices.Delete(list, i, i+1)
	f.revoked = append(f.revoked, clientID)
	return nil
}

func (f *fakeOIDC) calls() (approved []approveCall, denied, revoked []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.approved), slices.Clone(f.denied), slices.Clone(f.revoked)
}

func (f *fakeOIDC) isPending(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.prompts[id]
	return ok
}

func (f *fakeOIDC) setConsents(residentID string, list []interaction.Consent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.consents[residentID] = list
}

func (f *fakeOIDC) languages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.langs)
}

var _ interaction.Service = (*fakeOIDC)(nil)

// fetch GETs a page and returns the response (body closed) and the body.
func (st *site) fetch(t *testing.T, c *http.Client, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", st.ts.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// library is a relying party asking for two essential and three optional
// claims, one of which has no words of its own.
var library = interaction.Prompt{
	Client: interaction.Client{
		ID: "library", Name: "City Library", Purpose: "To issue your library card.",
		LogoURI:   "https://library.example/logo.png",
		PolicyURI: "https://library.example/privacy",
		TOSURI:    "http://library.example/terms", // not https: not shown
		ClientURI: "javascript:alert(1)",          // not a web page: not shown
	},
	Claims: []interaction.Claim{
		{Name: "name", Essential: true},
		{Name: "name#zh-Hant"},
		{Name: "birthdate"},
		{Name: "eidp_id_number", Essential: true},
		{Name: "x_library_branch"},
	},
	Offline: true,
}

// oidcSite is a site with the fake provider and one registered,
// logged-in resident.
type oidcSite struct {
	*site
	oidc     *fakeOIDC
	c        *http.Client // the resident's browser
	resident string
	phone    *passkeytest.Authenticator
}

func newOIDCSite(t *testing.T, dbURL string) *oidcSite {
	t.Helper()
	oidc := newFakeOIDC()
	st := newSite(t, dbURL, func(d *Deps) { d.OIDC = oidc })
	c := st.browser(t)
	phone := passkeytest.NewAuthenticator(st.origin())
	st.register(t, c, phone, chanTaiMan)
	resident, err := st.Accounts.ByIDNumber(context.Background(), "A1234563")
	if err != nil {
		t.Fatal(err)
	}
	return &oidcSite{site: st, oidc: oidc, c: c, resident: resident.ID, phone: phone}
}

// checkbox finds the checkbox input for a claim.
func checkbox(body, claim string) string {
	return regexp.MustCompile(`<input type="checkbox"[^>]*value="` + regexp.QuoteMeta(html.EscapeString(claim)) + `"[^>]*>`).FindString(body)
}

var missingMessage = regexp.MustCompile(`![a-z_.#-]+!`)

func TestConsentPageShowsTheServiceAndItsClaims(t *testing.T) {
	st := newOIDCSite(t, testenv.SQLite(t))
	st.oidc.add("req-1", st.resident, "城市圖書館", library)

	for _, tc := range []struct {
		accept, lang, name string
		words              []string
	}{
		{"en", English, "City Library", []string{"Your name", "Your name in Chinese", "Your date of birth",
			"Your identity card number", "Data named “x_library_branch”", "To issue your library card.",
			"Privacy policy", "while you are not using it", "Allow", "Cancel"}},
		{"zh-HK,zh;q=0.9", TraditionalChinese, "城市圖書館", []string{"您的姓名", "您的中文姓名", "您的出生日期",
			"您的身份證號碼", "名為「x_library_branch」的資料", "私隱政策", "允許", "取消"}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			resp, body := st.fetch(t, st.c, "/consent?id=req-1", "Accept-Language", tc.accept)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<html lang="`+tc.lang+`">`) {
				t.Fatalf("status %d, page:\n%s", resp.StatusCode, body)
			}
			if !strings.Contains(body, `<img class="logo" src="https://library.example/logo.png" alt="`+tc.name+`"`) {
				t.Errorf("no logo named %s", tc.name)
			}
			for _, w := range append(tc.words, tc.name) {
				if !strings.Contains(body, w) {
					t.Errorf("the page does not say %q", w)
				}
			}
			if m := missingMessage.FindString(body); m != "" {
				t.Errorf("untranslated %s", m)
			}
			for _, essential := range []string{"name", "eidp_id_number"} {
				if cb := checkbox(body, essential); cb != "" {
					t.Errorf("essential claim %s can be unticked: %s", essential, cb)
				}
				if !strings.Contains(body, `data-claim="`+essential+`"`) {
					t.Errorf("essential claim %s is not listed", essential)
				}
			}
			for _, optional := range []string{"name#zh-Hant", "birthdate", "x_library_branch"} {
				if cb := checkbox(body, optional); !strings.Contains(cb, " checked") {
					t.Errorf("optional claim %s is not a ticked checkbox: %q", optional, cb)
				}
			}
			for _, hidden := range []string{"http://library.example/terms", "javascript:"} {
				if strings.Contains(body, hidden) {
					t.Errorf("the page links to %s", hidden)
				}
			}
			// https logos, and the answer's redirect to the client (no
			// form-action); everything else as strict as on every page.
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "img-src 'self' data: https:;") || strings.Contains(csp, "form-action") {
				t.Errorf("CSP for the consent page with a logo: %q", csp)
			}
			for _, d := range strings.Split(httpx.DefaultCSP, "; ") {
				if !strings.HasPrefix(d, "img-src") && !strings.HasPrefix(d, "form-action") && !strings.Contains(csp, d) {
					t.Errorf("the consent page's CSP lost %q: %q", d, csp)
				}
			}
		})
	}
	if got := st.oidc.languages(); !slices.Equal(got, []string{English, TraditionalChinese}) {
		t.Errorf("the provider was asked for languages %v", got)
	}

	t.Run("a service without a logo keeps the strict image policy", func(t *testing.T) {
		plain := library
		plain.Client.LogoURI = ""
		plain.Claims = nil
		plain.Offline = false
		st.oidc.add("req-plain", st.resident, "", plain)
		resp, body := st.fetch(t, st.c, "/consent?id=req-plain")
		if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "https:") || strings.Contains(csp, "form-action") {
			t.Errorf("CSP: %q", csp)
		}
		if strings.Contains(body, "<img") || !strings.Contains(body, "only be able to recognise you") || strings.Contains(body, "while you are not using it") {
			t.Errorf("page without claims, logo or offline access:\n%s", body)
		}
	})
}

func TestConsentAnswers(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			st := newOIDCSite(t, d.URL)
			_, _, token := st.get(t, st.c, "/account")
			wrong := "A" + token[1:]
			if token[0] == 'A' {
				wrong = "B" + token[1:]
			}

			t.Run("without a CSRF token nothing is answered", func(t *testing.T) {
				st.oidc.add("req-csrf", st.resident, "", library)
				for _, csrf := range []string{"", wrong} {
					form := url.Values{"id": {"req-csrf"}, "action": {"allow"}, "claim": {"birthdate"}}
					if csrf != "" {
						form.Set("csrf", csrf)
					}
					resp, _ := st.postForm(t, st.c, "/consent", form)
					if resp.StatusCode != http.StatusForbidden {
						t.Errorf("csrf %q: %d", csrf, resp.StatusCode)
					}
					form.Set("action", "deny")
					if resp, _ := st.postForm(t, st.c, "/consent", form); resp.StatusCode != http.StatusForbidden {
						t.Errorf("deny, csrf %q: %d", csrf, resp.StatusCode)
					}
				}
				if a, dn, _ := st.oidc.calls(); len(a)+len(dn) != 0 {
					t.Fatalf("answered without CSRF: %v %v", a, dn)
				}
			})

			t.Run("allow releases the essential claims and only the ticked optional ones", func(t *testing.T) {
				st.oidc.add("req-allow", st.resident, "", library)
				// name#zh-Hant unticked; birthdate twice (a replayed field) counts once.
				resp, _ := st.postForm(t, st.c, "/consent", url.Values{"csrf": {token}, "id": {"req-allow"}, "action": {"allow"},
					"claim": {"birthdate", "x_library_branch", "birthdate"}})
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != approvedRedirect {
					t.Fatalf("allow: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				a, _, _ := st.oidc.calls()
				if len(a) != 1 || a[0].id != "req-allow" || a[0].resident != st.resident ||
					!slices.Equal(a[0].keep, []string{"birthdate", "x_library_branch"}) {
					t.Fatalf("Approve calls: %+v", a)
				}
			})

			t.Run("allow with everything unticked keeps nothing optional", func(t *testing.T) {
				st.oidc.add("req-none", st.resident, "", library)
				resp, _ := st.postForm(t, st.c, "/consent", url.Values{"csrf": {token}, "id": {"req-none"}, "action": {"allow"}})
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("allow: %d", resp.StatusCode)
				}
				a, _, _ := st.oidc.calls()
				if last := a[len(a)-1]; last.id != "req-none" || len(last.keep) != 0 {
					t.Fatalf("Approve: %+v", last)
				}
			})

			t.Run("cancel denies", func(t *testing.T) {
				st.oidc.add("req-deny", st.resident, "", library)
				before, _, _ := st.oidc.calls()
				resp, _ := st.postForm(t, st.c, "/consent", url.Values{"csrf": {token}, "id": {"req-deny"}, "action": {"deny"}, "claim": {"birthdate"}})
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != deniedRedirect {
					t.Fatalf("deny: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				a, dn, _ := st.oidc.calls()
				if !slices.Equal(dn, []string{"req-deny"}) || len(a) != len(before) {
					t.Fatalf("Deny calls %v, Approve calls %v", dn, a)
				}
			})

			t.Run("an unknown action answers nothing", func(t *testing.T) {
				st.oidc.add("req-odd", st.resident, "", library)
				resp, _ := st.postForm(t, st.c, "/consent", url.Values{"csrf": {token}, "id": {"req-odd"}, "action": {"maybe"}})
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("action=maybe: %d", resp.StatusCode)
				}
				if !st.oidc.isPending("req-odd") {
					t.Fatal("the request was answered")
				}
			})

			t.Run("a request that is gone shows the expired page", func(t *testing.T) {
				someoneElses := library
				st.oidc.add("req-other", "another-resident", "", someoneElses)
				for _, tc := range []struct{ name, method, id string }{
					{"an answered request", "POST", "req-allow"},
					{"an unknown request", "GET", "no-such-request"},
					{"someone else's request", "GET", "req-other"},
					{"someone else's request, answered", "POST", "req-other"},
					{"no id", "GET", ""},
					{"an id too long to be one", "GET", strings.Repeat("x", 200)},
				} {
					var status int
					var body string
					if tc.method == "GET" {
						status, body, _ = st.get(t, st.c, "/consent?id="+url.QueryEscape(tc.id))
					} else {
						var resp *http.Response
						resp, body = st.postForm(t, st.c, "/consent", url.Values{"csrf": {token}, "id": {tc.id}, "action": {"allow"}})
						status = resp.StatusCode
					}
					if status != http.StatusBadRequest || !strings.Contains(body, "This request has expired or was already answered. Go back to the service and start again.") {
						t.Errorf("%s: %d\n%s", tc.name, status, body)
					}
				}
				if !st.oidc.isPending("req-other") {
					t.Fatal("someone else's request was answered")
				}
			})
		})
	}
}

func TestConsentWithoutASessionGoesToLoginAndBack(t *testing.T) {
	st := newOIDCSite(t, testenv.SQLite(t))
	st.oidc.add("req-1", st.resident, "", library)
	stranger := st.browser(t)
	want := "/login?next=" + url.QueryEscape("/authorize/resume?id=req-1")

	if code, _, _ := st.get(t, stranger, "/consent?id=req-1"); code != http.StatusSeeOther {
		t.Fatalf("GET /consent without a session: %d", code)
	}
	resp, err := stranger.Get(st.ts.URL + "/consent?id=req-1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Location"); got != want {
		t.Fatalf("redirect to %q, want %q", got, want)
	}
	// A POST with a valid token but no session answers nothing either.
	token := st.csrf(t, stranger)
	r2, _ := st.postForm(t, stranger, "/consent", url.Values{"csrf": {token}, "id": {"req-1"}, "action": {"allow"}})
	if r2.StatusCode != http.StatusSeeOther || r2.Header.Get("Location") != want {
		t.Fatalf("POST /consent without a session: %d %q", r2.StatusCode, r2.Header.Get("Location"))
	}
	if a, dn, _ := st.oidc.calls(); len(a)+len(dn) != 0 {
		t.Fatal("answered without a session")
	}
	code, body, _ := st.get(t, stranger, want)
	if code != http.StatusOK || !strings.Contains(body, `data-next="/authorize/resume?id=req-1"`) || !strings.Contains(body, "go back to the service") {
		t.Fatalf("login page with a return path: %d\n%s", code, body)
	}
}

func TestAuthorizePathAcceptsOnlyTheProvider(t *testing.T) {
	for _, tc := range []struct {
		name, next string
		ok         bool
	}{
		{"the provider's resume path", "/authorize/resume?id=abc-123", true},
		{"a path under /authorize/ with a query of its own", "/authorize/resume?id=a%2Fb&x=1", true},
		{"empty", "", false},
		{"the account page", "/account", false},
		{"the authorization endpoint itself", "/authorize", false},
		{"a prefix lookalike", "/authorizex/resume", false},
		{"scheme-relative", "//evil.example/authorize/", false},
		{"backslash", "/\\evil.example/authorize/", false},
		{"backslash inside", "/authorize/\\\\evil.example", false},
		{"absolute https", "https://evil.example/authorize/resume", false},
		{"javascript", "javascript:alert(1)//authorize/", false},
		{"encoded slashes", "/%2F%2Fevil.example/authorize/", false},
		{"encoded slash after the prefix", "/authorize/%2F%2Fevil.example", false},
		{"encoded backslash", "/authorize/%5Cevil.example", false},
		{"encoded dots", "/authorize/%2e%2e/account", false},
		{"dot segments", "/authorize/../account", false},
		{"a dot segment", "/authorize/./resume", false},
		{"an empty segment", "/authorize//evil.example", false},
		{"a tab browsers drop", "/authorize/\t/resume", false},
		{"a newline", "/authorize/resume\n?id=1", false},
		{"non-ASCII", "/authorize/résumé", false},
		{"a fragment", "/authorize/resume?id=1#x", false},
		{"too long", "/authorize/resume?id=" + strings.Repeat("a", 600), false},
		{"a userinfo trick", "/authorize/@evil.example", true}, // a path segment, on this site
		{"the signing approval page", "/sign?id=0123abcd", true},
		{"the signing page without a query", "/sign", false},
		{"a signing lookalike", "/signx?id=1", false},
		{"the signing page with a fragment", "/sign?id=1#x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := authorizePath(tc.next)
			if ok != tc.ok || (ok && got != tc.next) {
				t.Fatalf("authorizePath(%q) = %q, %v; want ok=%v", tc.next, got, ok, tc.ok)
			}
		})
	}
}

func TestLoginReturnsToTheProvider(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			st := newOIDCSite(t, d.URL)
			next := "/authorize/resume?id=req-1"
			loginURL := "/login?next=" + url.QueryEscape(next)

			t.Run("a logged-in browser still sees the login page when the provider asks", func(t *testing.T) {
				if code, _, _ := st.get(t, st.c, "/login"); code != http.StatusSeeOther {
					t.Fatalf("/login with a session and no next: %d", code)
				}
				code, body, _ := st.get(t, st.c, loginURL)
				if code != http.StatusOK || !strings.Contains(body, `data-next="`+next+`"`) {
					t.Fatalf("/login with a session and next: %d", code)
				}
			})

			t.Run("the page ignores a return path that is not the provider's", func(t *testing.T) {
				fresh := st.browser(t)
				for _, bad := range []string{"//evil.example", "/\\evil.example", "https://evil.example/", "/account",
					"/%2F%2Fevil.example", "%2Fauthorize%2Fresume", "/authorize/%2e%2e/account"} {
					code, body, _ := st.get(t, fresh, "/login?next="+url.QueryEscape(bad))
					if code != http.StatusOK || strings.Contains(body, "data-next") || strings.Contains(body, "evil.example") {
						t.Errorf("next=%q: %d, data-next or the target on the page", bad, code)
					}
				}
			})

			t.Run("a fresh passkey login renews the session and returns the path", func(t *testing.T) {
				before, err := st.Sessions.List(context.Background(), st.resident)
				if err != nil {
					t.Fatal(err)
				}
				_, _, token := st.get(t, st.c, loginURL)
				status, body := st.loginWithNext(t, st.c, token, st.phone, next)
				var result ceremonyResult
				if status != http.StatusOK || json.Unmarshal([]byte(body), &result) != nil || result.Redirect != next {
					t.Fatalf("login: %d %s", status, body)
				}
				// The same resident logged in again: the session keeps its ID
				// (services logged in with it keep their sid) and records the
				// new authentication.
				after, _ := st.Sessions.List(context.Background(), st.resident)
				if len(after) != len(before) || after[0].ID != before[0].ID || !after[0].AuthTime.After(before[0].AuthTime) {
					t.Fatalf("sessions before %+v, after %+v: want the same session with a later auth_time", before, after)
				}
			})

			t.Run("the login API ignores a return path that is not the provider's", func(t *testing.T) {
				for _, bad := range []string{"//evil.example", "https://evil.example/authorize/", "/account", "/authorize/%2F%2Fevil"} {
					_, _, token := st.get(t, st.c, loginURL)
					status, body := st.loginWithNext(t, st.c, token, st.phone, bad)
					var result ceremonyResult
					if status != http.StatusOK || json.Unmarshal([]byte(body), &result) != nil || result.Redirect != "/account" {
						t.Errorf("next=%q: %d %s", bad, status, body)
					}
				}
			})

			t.Run("ui_locales picks the language and the toggle keeps the return path", func(t *testing.T) {
				_, body, token := st.get(t, st.c, loginURL+"&ui_locales=zh-Hant", "Accept-Language", "en")
				if !strings.Contains(body, `<html lang="zh-Hant">`) {
					t.Fatal("ui_locales=zh-Hant was not honoured")
				}
				toggleNext := regexp.MustCompile(`<input type="hidden" name="next" value="([^"]*)">`).FindStringSubmatch(body)
				if toggleNext == nil || html.UnescapeString(toggleNext[1]) != loginURL {
					t.Fatalf("the toggle returns to %q, want %q", toggleNext, loginURL)
				}
				resp, _ := st.postForm(t, st.c, "/lang", url.Values{"csrf": {token}, "lang": {"en"}, "next": {html.UnescapeString(toggleNext[1])}})
				if resp.Header.Get("Location") != loginURL {
					t.Fatalf("after the toggle: %q", resp.Header.Get("Location"))
				}
			})
		})
	}
}

// loginWithNext is login sending the page's return path, as app.js does.
func (st *site) loginWithNext(t *testing.T, c *http.Client, token string, a *passkeytest.Authenticator, next string) (int, string) {
	t.Helper()
	opts := st.ceremony(t, c, token, "/api/passkey/login/options", nil)
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatalf("authenticator get: %v", err)
	}
	b, _ := json.Marshal(map[string]any{"response": json.RawMessage(resp), "next": next})
	return st.postJSON(t, c, "/api/passkey/login", "application/json", token, string(b))
}

func TestLocalPathAndQueryKeepsTheQueryOnSite(t *testing.T) {
	for in, want := range map[string]string{
		"/login?next=%2Fauthorize%2Fresume%3Fid%3D1": "/login?next=%2Fauthorize%2Fresume%3Fid%3D1",
		"/consent?id=abc":           "/consent?id=abc",
		"/account":                  "/account",
		"//evil.example/?x=1":       "/",
		"https://evil.example/?x=1": "/",
		"/\\evil.example?x=1":       "/",
	} {
		if got := localPathAndQuery(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestConnectedServicesOnTheAccountPage(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			st := newOIDCSite(t, d.URL)
			code, page, token := st.get(t, st.c, "/account")
			if code != 200 || !strings.Contains(page, `id="services-h"`) || !strings.Contains(page, "No services yet.") {
				t.Fatalf("account without services: %d", code)
			}

			granted := time.Date(2025, 3, 4, 20, 0, 0, 0, time.UTC) // 5 March in Hong Kong
			st.oidc.setConsents(st.resident, []interaction.Consent{
				{Client: interaction.Client{ID: "library", Name: "City Library", LogoURI: "https://library.example/logo.png"},
					Claims: []string{"name", "birthdate"}, GrantedAt: granted, UpdatedAt: granted},
				{Client: interaction.Client{ID: "tax", Name: "Tax <Office>"}, GrantedAt: granted, UpdatedAt: granted},
			})
			resp, page := st.fetch(t, st.c, "/account")
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https:") || !strings.Contains(csp, "form-action 'self'") {
				t.Errorf("the account page's CSP with a logo: %q", csp)
			}
			for _, w := range []string{`data-client="library"`, "City Library", `alt="City Library"`, "Your name", "Your date of birth",
				"Allowed since 5 March 2025", "Tax &lt;Office&gt;", "sees no personal details"} {
				if !strings.Contains(page, w) {
					t.Errorf("the account page does not say %q", w)
				}
			}
			if strings.Contains(page, "No services yet.") {
				t.Error("the empty state is shown with two services")
			}
			_, zh, _ := st.get(t, st.c, "/account", "Accept-Language", "zh-HK")
			for _, w := range []string{"可查看您資料的服務", "您的出生日期", "自 2025年3月5日 起獲准", "撤回"} {
				if !strings.Contains(zh, w) {
					t.Errorf("the Chinese account page does not say %q", w)
				}
			}

			t.Run("the activity log names the service", func(t *testing.T) {
				ctx := context.Background()
				if err := st.Accounts.Record(ctx, st.resident, account.KindConsentGiven, map[string]string{"client": "City Library"}); err != nil {
					t.Fatal(err)
				}
				if err := st.Accounts.Record(ctx, st.resident, account.KindConsentWithdrawn, nil); err != nil {
					t.Fatal(err)
				}
				_, page, _ := st.get(t, st.c, "/account")
				for _, w := range []string{"<span>Allowed City Library to see your details</span>", "<span>Withdrew consent from a service</span>"} {
					if !strings.Contains(page, w) {
						t.Errorf("the activity log does not say %q", w)
					}
				}
				_, zh, _ := st.get(t, st.c, "/account", "Accept-Language", "zh-HK")
				if !strings.Contains(zh, "<span>已允許「City Library」查看您的資料</span>") {
					t.Error("the Chinese activity log does not name the service")
				}
			})

			t.Run("withdrawing needs the CSRF token", func(t *testing.T) {
				resp, _ := st.postForm(t, st.c, "/account/consents/revoke", url.Values{"client_id": {"library"}})
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("without CSRF: %d", resp.StatusCode)
				}
				if _, _, rv := st.oidc.calls(); len(rv) != 0 {
					t.Fatalf("revoked without CSRF: %v", rv)
				}
			})

			t.Run("withdrawing ends the consent and says so", func(t *testing.T) {
				resp, _ := st.postForm(t, st.c, "/account/consents/revoke", url.Values{"csrf": {token}, "client_id": {"library"}})
				loc := resp.Header.Get("Location")
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/account?") {
					t.Fatalf("withdraw: %d → %q", resp.StatusCode, loc)
				}
				if _, _, rv := st.oidc.calls(); !slices.Equal(rv, []string{"library"}) {
					t.Fatalf("Revoke calls: %v", rv)
				}
				_, page, _ := st.get(t, st.c, loc)
				if !strings.Contains(page, `role="status">City Library can no longer see your data.</div>`) || strings.Contains(page, `data-client="library"`) {
					t.Fatalf("after withdrawing:\n%s", page)
				}
			})

			t.Run("a crafted link puts no words on the page", func(t *testing.T) {
				forged := "/account?" + url.Values{"done": {"withdrawn"}, "name": {"Call 12345678 now! Your eID"}, "sig": {"AAAA"}}.Encode()
				if _, page, _ := st.get(t, st.c, forged); strings.Contains(page, "12345678") {
					t.Fatal("a forged notice was shown")
				}
			})

			t.Run("withdrawing a service that is not connected", func(t *testing.T) {
				resp, body := st.postForm(t, st.c, "/account/consents/revoke", url.Values{"csrf": {token}, "client_id": {"library"}})
				if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "not connected to your eID") {
					t.Fatalf("again: %d", resp.StatusCode)
				}
				if resp, _ := st.postForm(t, st.c, "/account/consents/revoke", url.Values{"csrf": {token}}); resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("no client_id: %d", resp.StatusCode)
				}
			})
		})
	}
}

func TestWithoutOIDCThereIsNoConsent(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	c := st.browser(t)
	st.register(t, c, passkeytest.NewAuthenticator(st.origin()), chanTaiMan)
	code, page, token := st.get(t, c, "/account")
	if code != 200 || strings.Contains(page, "services-h") {
		t.Fatalf("account page: %d, services section shown: %v", code, strings.Contains(page, "services-h"))
	}
	if code, _, _ := st.get(t, c, "/consent?id=x"); code != http.StatusNotFound {
		t.Errorf("GET /consent: %d", code)
	}
	for _, path := range []string{"/consent", "/account/consents/revoke"} {
		if resp, _ := st.postForm(t, c, path, url.Values{"csrf": {token}, "id": {"x"}, "client_id": {"x"}, "action": {"allow"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: %d", path, resp.StatusCode)
		}
	}
}

func TestAuthorizationErrorPage(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	for _, tc := range []struct {
		query, lang, lead string
	}{
		{"", "en", "The service that sent you here made a request we cannot accept."},
		{"?ui_locales=zh-Hant", "zh-Hant", "轉介您到此的服務提出了我們無法接受的要求。"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/authorize"+tc.query, nil)
			st.AuthorizationError(w, r, http.StatusBadRequest, "invalid_request",
				`redirect_uri "https://evil.example/<script>alert(1)</script>" is not registered`+strings.Repeat("x", 400))
			body := w.Body.String()
			if w.Code != http.StatusBadRequest || !strings.Contains(body, `<html lang="`+tc.lang+`">`) || !strings.Contains(body, tc.lead) {
				t.Fatalf("%d\n%s", w.Code, body)
			}
			if !strings.Contains(body, `<code id="error-code">invalid_request</code>`) ||
				!strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(body, "<script>alert") {
				t.Fatalf("the technical details are missing or unescaped:\n%s", body)
			}
			if strings.Count(body, "x") > 350 {
				t.Error("the description was not shortened")
			}
			if m := missingMessage.FindString(body); m != "" {
				t.Errorf("untranslated %s", m)
			}
		})
	}
}

// TestLogoutConfirmAsksTheLoggedInResident: the page a service's logout
// request without a valid id_token_hint leads to asks before ending the
// session; the answer is the ordinary CSRF-protected logout form.
func TestLogoutConfirmAsksTheLoggedInResident(t *testing.T) {
	st := newOIDCSite(t, testenv.SQLite(t))
	code, body, _ := st.get(t, st.c, "/logout/confirm")
	if code != http.StatusOK || !strings.Contains(body, `id="logout-confirm"`) || !strings.Contains(body, `id="logout-stay"`) {
		t.Fatalf("/logout/confirm with a session: %d\n%s", code, body)
	}
	if _, err := st.Sessions.List(context.Background(), st.resident); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.Sessions.List(context.Background(), st.resident); len(list) != 1 {
		t.Fatalf("showing the question ended the session: %d live", len(list))
	}
	code, body, _ = st.get(t, st.browser(t), "/logout/confirm")
	if code != http.StatusOK || !strings.Contains(body, `id="logout-done"`) || strings.Contains(body, `id="logout-confirm"`) {
		t.Fatalf("/logout/confirm without a session: %d\n%s", code, body)
	}
}
