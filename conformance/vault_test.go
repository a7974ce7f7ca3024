package conformance

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

var hoKitWah = person{"Z371646(6)", "1988-04-12", "HO Kit Wah", "HO Kit Wah"}

// TestVaultReleaseThroughOIDC: a resident keeps an address and a mobile
// number in the vault (through the pages); a department (go-oidc +
// x/oauth2) asks for address and phone; the consent page previews both;
// the resident unticks the phone; userinfo carries the address only; the
// access log shows exactly that release and its chain verifies; a second
// login asks nothing; withdrawing the consent makes the next userinfo call
// fail.
func TestVaultReleaseThroughOIDC(t *testing.T) {
	needBrowser(t)
	srv := startServer(t, "sqlite:"+t.TempDir()+"/eidp.db")
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(hoKitWah)

	tb.navigate("/account/data/edit?name=residential_address")
	tb.setValue(`[name="field-flat"]`, "12B")
	tb.setValue(`[name="field-building"]`, "Harbour View Tower 3")
	tb.setValue(`[name="field-street_number"]`, "8")
	tb.setValue(`[name="field-street"]`, "Harbour Road")
	tb.setValue(`[name="field-district"]`, "wan-chai")
	tb.clickAndLoad("#edit-save")
	tb.waitPath("/account/data")
	tb.navigate("/account/data/edit?name=mobile_phone")
	tb.setValue(`[name="field-value"]`, "9123 4567")
	tb.clickAndLoad("#edit-save")
	tb.waitPath("/account/data")

	dept := newRP(t, srv, "127.0.0.1", map[string]any{"client_name": "Transport Department", "scope": "openid address phone email"})
	u, a := dept.authURL()
	tb.visit(u)
	tb.waitPath("/consent")
	page := tb.bodyText()
	if !strings.Contains(page, "Wan Chai") || !strings.Contains(page, "+852 9") || strings.Contains(page, "9123 4567") || strings.Contains(page, "91234567") {
		t.Fatalf("the consent page should preview the address and a masked mobile number:\n%s", page)
	}
	tb.click(`input[name=claim][value="phone_number"]`)
	tb.click("#consent-allow")
	tok, _ := dept.exchange(dept.callback(tb, a), a)
	ui := dept.userinfo(tok)
	addr, _ := ui["address"].(map[string]any)
	if addr == nil || addr["locality"] != "Wan Chai" || addr["country"] != "HK" || !strings.Contains(addr["formatted"].(string), "Harbour Road") {
		t.Fatalf("userinfo address: %v", ui)
	}
	if _, ok := ui["phone_number"]; ok {
		t.Fatalf("userinfo released the phone number the resident unticked: %v", ui)
	}

	// The access log: exactly that release, in plain words.
	tb.navigate("/account/data")
	lines := eval[[]string](tb, `[...document.querySelectorAll("#access-log li")].map(li => li.innerText)`)
	if len(lines) != 1 || !strings.Contains(lines[0], "Transport Department") || !strings.Contains(strings.ToLower(lines[0]), "address") ||
		strings.Contains(strings.ToLower(lines[0]), "phone") {
		t.Fatalf("access log lines: %q", lines)
	}
	verify := exec.Command(binary, "vault", "verify-log")
	verify.Env = srv.env
	if out, err := verify.CombinedOutput(); err != nil || !strings.Contains(string(out), "1 entries") && !strings.Contains(string(out), "OK") {
		t.Fatalf("eidp vault verify-log: %v\n%s", err, out)
	}

	// A second login with the same scopes asks nothing.
	u2, a2 := dept.authURL()
	tb.visit(u2)
	tok2, _ := dept.exchange(dept.callback(tb, a2), a2)
	if ui := dept.userinfo(tok2); ui["address"] == nil || ui["phone_number"] != nil {
		t.Fatalf("second userinfo: %v", ui)
	}

	// An email address added after the consent was not there to choose:
	// the next login asks again, previewing it.
	tb.navigate("/account/data/edit?name=email")
	tb.setValue(`[name="field-value"]`, "kit.wah@example.com")
	tb.clickAndLoad("#edit-save")
	tb.waitPath("/account/data")
	u3, a3 := dept.authURL()
	tb.visit(u3)
	tb.waitPath("/consent")
	if page := tb.bodyText(); !strings.Contains(page, "@example.com") || strings.Contains(page, "kit.wah@") {
		t.Fatalf("the consent page should preview the new email address, masked:\n%s", page)
	}
	tb.click(`input[name=claim][value="phone_number"]`)
	tb.click("#consent-allow")
	tok3, _ := dept.exchange(dept.callback(tb, a3), a3)
	if ui := dept.userinfo(tok3); ui["email"] != "kit.wah@example.com" || ui["email_verified"] != false || ui["phone_number"] != nil {
		t.Fatalf("userinfo after the new consent: %v", ui)
	}

	// Withdrawing the consent stops further releases at once.
	tb.navigate("/account")
	tb.clickAndLoad(`form[action="/account/consents/revoke"] button`)
	if _, err := dept.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok3)); err == nil {
		t.Fatal("userinfo still answers after the consent was withdrawn")
	}
	tb.navigate("/account/data")
	if n := eval[int](tb, `document.querySelectorAll("#access-log li").length`); n != 3 {
		t.Fatalf("access log has %d entries, want 3 (one per release, none after the withdrawal)", n)
	}
}
