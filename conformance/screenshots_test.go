package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// screenshotDir is where EIDP_SCREENSHOTS=1 writes the pictures.
var screenshotDir = filepath.Join("..", "docs", "screenshots")

// Phone size: an iPhone 12–15 class screen, in CSS pixels.
const phoneWidth, phoneHeight = 390, 844

// layoutCheck finds what a resident on a phone would stumble on: content
// wider than the screen (sideways scrolling), and text whose contrast with
// its background is below WCAG 2.2 AA (4.5:1; 3:1 for large text).
// Disabled controls are exempt (WCAG 1.4.3). It returns the problems.
const layoutCheck = `(() => {
	const problems = [];
	const width = window.innerWidth;
	if (document.documentElement.scrollWidth > width) {
		problems.push("the page is " + document.documentElement.scrollWidth + " px wide on a " + width + " px screen");
	}
	const rgba = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null;
		const p = m[1].split(",").map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
	const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
		return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
	const background = el => {
		for (let e = el; e; e = e.parentElement) {
			const c = rgba(getComputedStyle(e).backgroundColor);
			if (c && c.a > 0) return c;
		}
		return {r: 255, g: 255, b: 255, a: 1};
	};
	for (const el of document.body.querySelectorAll("*")) {
		const direct = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== "");
		if (!direct || el.closest(":disabled, .sr-only, .skip")) continue;
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) continue;
		if (r.right > width + 0.5) problems.push("<" + el.tagName.toLowerCase() + "> " + JSON.stringify(el.textContent.trim().slice(0, 40)) + " reaches " + Math.round(r.right) + " px");
		const st = getComputedStyle(el);
		const fg = rgba(st.color), bg = background(el);
		const l1 = lum(fg), l2 = lum(bg);
		const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
		const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
		const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
		if (ratio < need) problems.push("<" + el.tagName.toLowerCase() + "> " + JSON.stringify(el.textContent.trim().slice(0, 40)) + " has contrast " + ratio.toFixed(2) + ":1");
	}
	return problems;
})()`

// TestScreenshots shows every resident page on a phone-sized screen
// (390×844, mobile) in both languages — welcome, register (empty and with
// an error), passkey creation, recovery codes, login, account with a
// passkey, My data (its edit form with an error, erasure, account
// deletion), recover, the error page — and asserts that none scrolls
// sideways, none has text below AA contrast, and none has untranslated
// text. With EIDP_SCREENSHOTS=1 it also writes each page to
// docs/screenshots/<page>-<lang>.png (see docs/screenshots/README.md):
//
//	EIDP_SCREENSHOTS=1 go test ./conformance -run TestScreenshots
//
// The checks run on every `go test` (the pictures need a person to look
// at them; the checks do not), which also keeps this test from being a
// skip under CI=true, where ./scripts/test counts a skip as a failure.
func TestScreenshots(t *testing.T) {
	needBrowser(t)
	write := os.Getenv("EIDP_SCREENSHOTS") == "1"
	if write {
		if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	srv := startServer(t, "sqlite:"+filepath.Join(t.TempDir(), "eidp.db"))

	for _, tc := range []struct {
		lang, acceptLanguage string
		who                  person
		badIDNumber          string // the right person's with a wrong check digit
		wantError            string
	}{
		{"en", "en-HK,en;q=0.9", chanTaiMan, "A123456(4)", "The check digit does not match. Please check the digit in brackets."},
		{"zh-Hant", "zh-HK,zh;q=0.9", person{"AB987654(3)", "1962-11-03", "黃家豪", "WONG Ka Ho"}, "AB987654(4)", "檢驗數字不符。請核對括號內的數字。"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			tb := newTab(t, srv.URL)
			tb.setLanguage(tc.acceptLanguage)
			tb.do(chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulatePortrait, chromedp.EmulateScale(1)))
			tb.addAuthenticator()

			shoot := func(name string) {
				t.Helper()
				tb.checkPage(tc.lang)
				eval[bool](tb, `document.fonts.ready.then(() => true)`)
				if problems := eval[[]string](tb, layoutCheck); len(problems) > 0 {
					tb.fatalf("%s-%s on a %d px phone:\n%v", name, tc.lang, phoneWidth, problems)
				}
				checkAccessibility(t, tb, name+"-"+tc.lang)
				if got := eval[int](tb, `window.innerWidth`); got != phoneWidth {
					tb.fatalf("the page is laid out %d px wide, not %d: no phone viewport", got, phoneWidth)
				}
				if !write {
					return
				}
				png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
				if err != nil {
					tb.fatalf("screenshot: %v", err)
				}
				file := filepath.Join(screenshotDir, name+"-"+tc.lang+".png")
				if err := os.WriteFile(file, png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", file)
			}

			tb.navigate("/")
			shoot("welcome")

			tb.navigate("/register")
			shoot("register")

			bad := tc.who
			bad.IDNumber = tc.badIDNumber
			tb.fillIdentity(bad)
			tb.submitForm()
			if msg := tb.text(".alert.error"); msg != tc.wantError {
				tb.fatalf("register error %q, want %q", msg, tc.wantError)
			}
			shoot("register-error")

			tb.proof(tc.who)
			shoot("passkey")

			tb.createPasskey(true)
			shoot("codes")

			tb.click("#codes-continue")
			tb.waitPath("/account")
			if n := len(tb.account().Passkeys); n != 1 {
				tb.fatalf("the account shows %d passkeys", n)
			}
			shoot("account")

			// A service asks for the resident's data: the demo relying party
			// (development mode), the consent page, back to the service.
			tb.navigate("/demo/login")
			tb.waitPath("/consent")
			shoot("consent")
			tb.click("#consent-allow")
			tb.waitFor("the demo service's result page", `location.pathname === "/demo/callback" && document.readyState === "complete" && "yes"`)
			if body := tb.bodyText(); !strings.Contains(body, tc.who.Name) && !strings.Contains(body, "WONG") {
				tb.fatalf("the demo service does not show the resident's name:\n%s", body)
			}
			if write {
				png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
				if err != nil {
					tb.fatalf("screenshot: %v", err)
				}
				if err := os.WriteFile(filepath.Join(screenshotDir, "demo-service-"+tc.lang+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tb.navigate("/account")
			if !strings.Contains(tb.bodyText(), "Demo department service") && !strings.Contains(tb.bodyText(), "示範部門服務") {
				tb.fatalf("the account page does not list the service the resident consented to")
			}
			shoot("account-services")

			// My data: the vault's attributes, an address with an error, the
			// access log, erasure, and the account deletion page.
			tb.navigate("/account")
			tb.clickAndLoad("#data-link")
			tb.waitPath("/account/data")
			shoot("data")
			tb.navigate("/account/data/edit?name=residential_address")
			tb.setValue("#field-street_number", "8")
			tb.setValue("#field-flat", "A")
			tb.clickAndLoad("#edit-save")
			if tb.text("#error-summary") == "(nothing matches #error-summary)" {
				tb.fatalf("an address without its street shows no error summary")
			}
			shoot("data-edit-error")
			tb.setValue("#field-street", "Harbour Road")
			tb.setValue("#field-building", "Harbour View Mansion")
			tb.setValue("#field-district", "wan-chai")
			tb.clickAndLoad("#edit-save")
			tb.waitPath("/account/data")
			if !strings.Contains(tb.text(`[data-attribute="residential_address"]`), "Harbour Road") {
				tb.fatalf("the saved address is not shown: %s", tb.text(`[data-attribute="residential_address"]`))
			}
			tb.navigate("/account/data/edit?name=mobile_phone")
			shoot("data-edit-phone")
			tb.setValue("#field-value", "9123 4567")
			tb.clickAndLoad("#edit-save")
			tb.waitPath("/account/data")
			shoot("data-filled")
			tb.navigate("/account/data/erase")
			shoot("data-erase")
			tb.navigate("/account/delete")
			shoot("delete")

			// Signing: the certificate page below level high, then with a
			// certificate; a department's request on the approval page; the
			// history after approval.
			tb.navigate("/account/signing")
			shoot("signing-level")
			runCLI(t, srv, "residents", "set-level", "--id-number", tc.who.IDNumber, "--level", "high")
			tb.enrolCertificate()
			shoot("signing")
			dept := newRP(t, srv, "127.0.0.1", map[string]any{"client_name": "Lands Department", "client_name#zh-Hant": "地政總署",
				"scope": "openid service credential"})
			svc := dept.serviceToken(tb)
			_, list := cscCall(t, srv, svc, "credentials/list", map[string]any{})
			credID := list["credentialIDs"].([]any)[0].(string)
			lease := sha([]byte("lease " + tc.lang))
			_, auth := cscCall(t, srv, svc, "credentials/authorize", map[string]any{"credentialID": credID, "numSignatures": 1,
				"hashes": []string{b64(lease)}, "hashAlgorithmOID": sha256OID, "description": "Tenancy agreement, Flat 12B",
				"documentLabels": []string{"Tenancy agreement 2026"}})
			tb.visit(auth["approvalURI"].(string))
			tb.waitPath("/sign")
			shoot("sign")
			tb.click("#sign-approve-button")
			tb.waitPath("/account/signing")
			if status, body := cscCall(t, srv, svc, "signatures/signHash", map[string]any{"credentialID": credID, "SAD": auth["SAD"],
				"hashes": []string{b64(lease)}, "hashAlgorithmOID": sha256OID, "signAlgo": ecdsaSHA256OID}); status != 200 {
				tb.fatalf("signHash: %d %v", status, body)
			}
			tb.navigate("/account/signing")
			shoot("signing-history")

			tb.navigate("/logout/confirm")
			shoot("logout-confirm")

			tb.logout()
			tb.navigate("/login")
			shoot("login")

			tb.navigate("/recover")
			shoot("recover")

			tb.navigate("/no-such-page")
			if tb.text(".alert.error") == "" {
				tb.fatalf("the error page shows no message")
			}
			shoot("error")
		})
	}
}
