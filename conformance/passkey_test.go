package conformance

import (
	"slices"
	"strings"
	"testing"

	"eidp/internal/testenv"
)

// English texts the tests look for (web/messages/en.json). A test that
// finds them proves the page said them to the resident.
const (
	msgLoginFailed  = "That passkey could not be used. Please try again or recover your eID."
	msgLoginBlocked = "This passkey has been blocked to protect you. Use another passkey or recover your eID."
	msgRecovered    = "Your eID now works on this device. Your old passkeys no longer work."
	msgNotVerified  = "We could not verify these details. Check them against your identity card and try again."
)

// TestRegisterThenLogInWithoutUsername: identity proofing, a passkey
// created with user verification, recovery codes shown once, the account
// page; log out; a usernameless login with the same passkey. On each
// database engine.
func TestRegisterThenLogInWithoutUsername(t *testing.T) {
	needBrowser(t)
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			srv := startServer(t, d.URL)
			tb := newTab(t, srv.URL)
			phone := tb.addAuthenticator()

			tb.proof(chanTaiMan)
			if h := tb.text("h1"); h != "Create your passkey" {
				tb.fatalf("passkey page heading %q", h)
			}
			codes := tb.createPasskey(true)
			if len(codes) < 8 {
				tb.fatalf("want at least 8 recovery codes, got %q", codes)
			}
			for _, c := range codes {
				if len(strings.ReplaceAll(c, "-", "")) != 16 {
					tb.fatalf("recovery code %q: want 16 letters and digits", c)
				}
			}
			if n := len(slices.Compact(slices.Sorted(slices.Values(codes)))); n != len(codes) {
				tb.fatalf("recovery codes repeat: %q", codes)
			}
			tb.click("#codes-continue")
			tb.waitPath("/account")
			tb.checkPage("en")

			cred := phone.only()
			if !cred.IsResidentCredential || cred.RpID != "localhost" {
				tb.fatalf("want a discoverable credential for RP ID localhost, got resident=%v rpId=%q", cred.IsResidentCredential, cred.RpID)
			}
			acct := tb.account()
			if acct.Heading != "Welcome, Tai Man CHAN" {
				tb.fatalf("account heading %q", acct.Heading)
			}
			if acct.Profile["Name"] != "CHAN Tai Man" || acct.Profile["Chinese name"] != "陳大文" || acct.Profile["Date of birth"] != "12 April 1985" {
				tb.fatalf("account profile %v", acct.Profile)
			}
			if got := acct.passkeyIDs(); !slices.Equal(got, []string{credID(cred)}) {
				tb.fatalf("account passkeys %q, want the phone's one credential %q", got, credID(cred))
			}
			if acct.Passkeys[0].Remove {
				tb.fatalf("the only passkey can be removed")
			}
			if acct.Codes != "Unused recovery codes: "+itoa(len(codes)) {
				tb.fatalf("account says %q, want %d unused codes", acct.Codes, len(codes))
			}
			if !slices.Contains(acct.Activity, "eID created") || !slices.Contains(acct.Activity, "Passkey added") {
				tb.fatalf("account activity %q", acct.Activity)
			}

			tb.logout()
			tb.notLoggedIn()
			tb.mustLogin()
			acct = tb.account()
			if acct.Heading != "Welcome, Tai Man CHAN" || len(acct.Passkeys) != 1 {
				tb.fatalf("after login: heading %q, %d passkeys", acct.Heading, len(acct.Passkeys))
			}
			if !slices.Contains(acct.Activity, "Logged in") {
				tb.fatalf("no login in the activity: %q", acct.Activity)
			}
			if len(acct.Sessions) != 1 || acct.Sessions[0] != "This device" {
				tb.fatalf("sessions %q: the logged-out session must be gone", acct.Sessions)
			}

			// Passkey autofill (conditional mediation) logs in too: the
			// virtual authenticator offers its one passkey at once.
			tb.logout()
			tb.passkeyAutofill(true)
			tb.navigate("/login")
			tb.waitPath("/account")
			if acct := tb.account(); acct.Heading != "Welcome, Tai Man CHAN" {
				tb.fatalf("after the autofill login: heading %q", acct.Heading)
			}
		})
	}
}
