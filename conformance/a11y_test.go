package conformance

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	idpaccount "eidp/idp/account"
	"eidp/idp/interaction"
	"eidp/idp/passkey"
	"eidp/idp/proofing"
	"eidp/idp/session"
	"eidp/internal/httpx"
	"eidp/internal/testenv"
	"eidp/web"
)

// axe-core (conformance/a11y, installed by ./scripts/test with npm ci) is
// the accessibility engine browsers' developer tools use. It is injected
// into each page and checked against the WCAG 2.0–2.2 A and AA rules.
var axePath = filepath.Join("a11y", "node_modules", "axe-core", "axe.min.js")

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(axePath)
	return string(b), err
})

// axeRun reports each violated rule with the elements that violate it.
const axeRun = `axe.run(document, {
	runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
	resultTypes: ["violations"]
}).then(r => r.violations.map(v => v.id + " (" + v.impact + "): " + v.help + " — " +
	v.nodes.map(n => n.target.join(" ")).join(", ")))`

// checkAccessibility fails the test on any WCAG A/AA violation axe finds on
// the tab's current page. Without axe-core installed it fails under CI=true
// and only logs elsewhere.
func checkAccessibility(t *testing.T, tb *tab, page string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		msg := "axe-core is not installed (" + err.Error() + "): run npm ci --prefix conformance/a11y (./scripts/test does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg)
		return
	}
	if eval[string](tb, `typeof axe`) == "undefined" {
		eval[bool](tb, src+"\n;true")
	}
	if violations := eval[[]string](tb, axeRun); len(violations) > 0 {
		tb.fatalf("%s: WCAG violations found by axe-core:\n  %s", page, strings.Join(violations, "\n  "))
	}
}

// ---- the OpenID Provider's pages ---------------------------------------

// standInProvider plays the OpenID Provider behind web.Deps.OIDC
// (interaction.Service) for TestConsentPagesAreAccessible: one pending
// request, "req", for whoever is logged in, from a library that asks for
// essential and optional claims and offline access. Approving it
// remembers the consent; the answer sends the browser to the library's
// redirect_uri, rp (another origin: the same server as 127.0.0.1).
type standInProvider struct {
	mu       sync.Mutex
	rp       string
	consents map[string][]interaction.Consent // by resident
}

var standInClient = interaction.Client{ID: "library", Name: "City Library", Purpose: "To issue your library card.",
	LogoURI:   "https://library.invalid/logo.png", // never resolves: the page must hold up without it
	PolicyURI: "https://library.invalid/privacy", TOSURI: "https://library.invalid/terms", ClientURI: "https://library.invalid/"}

func (p *standInProvider) client(lang string) interaction.Client {
	c := standInClient
	if lang == "zh-Hant" {
		c.Name, c.Purpose = "城市圖書館", "用以簽發您的借書證。"
	}
	return c
}

func (p *standInProvider) Consent(_ context.Context, id string, _ session.Session, lang string) (interaction.Prompt, error) {
	if id != "req" {
		return interaction.Prompt{}, interaction.ErrNotFound
	}
	return interaction.Prompt{ID: id, Client: p.client(lang), Offline: true, Claims: []interaction.Claim{
		{Name: "name", Essential: true}, {Name: "eidp_id_number", Essential: true},
		{Name: "name#zh-Hant"}, {Name: "birthdate"}, {Name: "x_library_branch"},
	}}, nil
}

func (p *standInProvider) Approve(_ context.Context, id string, sess session.Session, keep []string) (string, error) {
	if id != "req" {
		return "", interaction.ErrNotFound
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.consents[sess.ResidentID] = []interaction.Consent{{Client: standInClient,
		Claims: append([]string{"name", "eidp_id_number"}, keep...), GrantedAt: now, UpdatedAt: now}}
	return p.rp + "?code=c0de&state=s1", nil
}

func (p *standInProvider) Deny(_ context.Context, id string, _ session.Session) (string, error) {
	if id != "req" {
		return "", interaction.ErrNotFound
	}
	return p.rp + "?error=access_denied&state=s1", nil
}

func (p *standInProvider) Consents(_ context.Context, residentID, lang string) ([]interaction.Consent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []interaction.Consent
	for _, c := range p.consents[residentID] {
		c.Client = p.client(lang)
		out = append(out, c)
	}
	return out, nil
}

func (p *standInProvider) Revoke(_ context.Context, residentID, clientID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.consents[residentID]) == 0 || clientID != standInClient.ID {
		return interaction.ErrNotFound
	}
	delete(p.consents, residentID)
	return nil
}

// startPagesWithProvider serves the resident pages in-process with the
// stand-in provider, on a fresh SQLite database, behind the same security
// headers as the binary. It returns the base URL (http://localhost:PORT)
// and the relying party's redirect_uri, on another origin
// (http://127.0.0.1:PORT/rp/callback).
func startPagesWithProvider(t *testing.T) (base, rp string) {
	t.Helper()
	d := testenv.OpenDB(t, testenv.SQLite(t))
	reg, err := proofing.DemoRegister()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	port := strconv.Itoa(ts.Listener.Addr().(*net.TCPAddr).Port)
	base, rp = "http://localhost:"+port, "http://127.0.0.1:"+port+"/rp/callback"
	pk, err := passkey.New(d, passkey.Config{RPID: "localhost", RPDisplayName: "City eID", Origins: []string{base}})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.New(web.Deps{
		DB: d, Proofer: proofing.NewProofer(d, reg, proofing.Limits{}), Accounts: idpaccount.NewStore(d),
		Sessions: session.NewManager(d, session.Options{}), Passkeys: pk,
		OIDC: &standInProvider{rp: rp, consents: map[string][]interaction.Consent{}},
		Log:  slog.New(slog.DiscardHandler),
	}, web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		// What the provider shows for a redirect_uri it must not redirect to.
		pages.AuthorizationError(w, r, http.StatusBadRequest, "invalid_request", "redirect_uri is not registered for client_id library")
	})
	mux.HandleFunc("GET /rp/callback", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html lang="en"><title>RP</title><p id="rp">` + r.URL.Query().Encode() + `</p></html>`))
	})
	pages.Register(mux)
	ts.Config.Handler = httpx.Chain(mux, httpx.SecurityHeaders(httpx.SecurityHeaderOptions{}))
	ts.Start()
	t.Cleanup(ts.Close)
	return base, rp
}

// TestConsentPagesAreAccessible checks the pages of an OpenID Connect
// authorization on a phone in both languages, like TestScreenshots does
// for the others: the login page with a return path, the consent page,
// the account page with a connected service, and the error page for a
// request that cannot be answered by redirect. Until cmd/eidp serves a
// pending authorization, the pages are served in-process with a stand-in
// provider.
func TestConsentPagesAreAccessible(t *testing.T) {
	needBrowser(t)
	base, rp := startPagesWithProvider(t)
	for _, tc := range []struct {
		lang, acceptLanguage string
		who                  person
		heading              string
	}{
		{"en", "en-HK,en;q=0.9", chanTaiMan, "City Library would like to see some of your details"},
		{"zh-Hant", "zh-HK,zh;q=0.9", wongKaHo, "「城市圖書館」希望取得您的部分資料"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			tb := newTab(t, base)
			tb.setLanguage(tc.acceptLanguage)
			tb.do(chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulatePortrait, chromedp.EmulateScale(1)))
			tb.addAuthenticator()
			check := func(name string) {
				t.Helper()
				tb.checkPage(tc.lang)
				if problems := eval[[]string](tb, layoutCheck); len(problems) > 0 {
					tb.fatalf("%s-%s on a %d px phone:\n%v", name, tc.lang, phoneWidth, problems)
				}
				checkAccessibility(t, tb, name+"-"+tc.lang)
			}

			tb.register(tc.who)
			tb.navigate("/login?next=" + url.QueryEscape("/authorize/resume?id=req"))
			tb.waitPath("/login")
			check("login-for-service")

			tb.navigate("/consent?id=req")
			tb.waitPath("/consent")
			if got := tb.text("h1"); got != tc.heading {
				tb.fatalf("consent heading %q, want %q", got, tc.heading)
			}
			check("consent")

			// Allowing sends the browser on to the relying party, another
			// origin: the consent page's policy must let the form's
			// redirect through (browsers apply form-action to it).
			tb.click(`input[value="birthdate"]`) // untick one optional claim
			tb.clickAndLoad("#consent-allow")
			tb.waitFor("the relying party's redirect_uri", `location.href.startsWith(`+jsString(rp+"?")+`) && document.readyState === "complete" && "yes"`)
			if got := tb.text("#rp"); got != "code=c0de&state=s1" {
				tb.fatalf("the relying party got %q", got)
			}
			tb.navigate("/account")
			tb.waitPath("/account")
			if n := eval[int](tb, `document.querySelectorAll("#services > li").length`); n != 1 {
				tb.fatalf("the account page lists %d connected services", n)
			}
			check("account-services")

			tb.navigate("/consent?id=answered")
			check("consent-expired")

			tb.navigate("/authorize?client_id=library&ui_locales=" + tc.lang)
			tb.click("details.tech summary")
			check("authorization-error")
		})
	}
}
