package conformance

import (
	"slices"
	"testing"
)

// TestRecoverLostPhone: a resident who lost the phone proves who they are
// with the identity card details and one recovery code on a new phone and
// creates a passkey there. Afterwards the new passkey is the only one, the
// old phone's session is gone, its passkey no longer logs in, and the
// recovery code does not work twice.
func TestRecoverLostPhone(t *testing.T) {
	srv := sharedServer(t)
	oldPhone := newTab(t, srv.URL)
	oldAuth := oldPhone.addAuthenticator()
	codes := oldPhone.register(hoWingSze)
	oldCred := oldAuth.only()

	// A new phone: another browser, another authenticator.
	newPhone := newTab(t, srv.URL)
	newAuth := newPhone.addAuthenticator()
	newPhone.navigate("/recover")
	newPhone.checkPage("en")
	newPhone.fillIdentity(hoWingSze)
	newPhone.setValue("#code", codes[0])
	newPhone.submitForm()
	newPhone.waitPath("/recover/passkey")
	if h := newPhone.text("h1"); h != "Create a passkey on this device" {
		newPhone.fatalf("recovery passkey page heading %q", h)
	}
	newPhone.createPasskey(false)
	newCred := newAuth.only()

	acct := newPhone.account()
	if acct.Notice != msgRecovered {
		newPhone.fatalf("notice %q, want %q", acct.Notice, msgRecovered)
	}
	if got := acct.passkeyIDs(); !slices.Equal(got, []string{credID(newCred)}) || credID(newCred) == credID(oldCred) {
		newPhone.fatalf("account passkeys %q, want only the new phone's %q (the old one was %q)", got, credID(newCred), credID(oldCred))
	}
	if !slices.Contains(acct.Activity, "eID recovered on a new device") {
		newPhone.fatalf("activity %q lacks the recovery", acct.Activity)
	}
	if want := "Unused recovery codes: " + itoa(len(codes)-1); acct.Codes != want {
		newPhone.fatalf("account says %q, want %q", acct.Codes, want)
	}
	if len(acct.Sessions) != 1 {
		newPhone.fatalf("sessions %q: want only this one", acct.Sessions)
	}

	// The old phone: its session was revoked…
	oldPhone.navigate("/account")
	oldPhone.waitPath("/login")
	// …and its passkey no longer logs in.
	mark := srv.logs.mark()
	if ok, msg := oldPhone.login(); ok || msg != msgLoginFailed {
		oldPhone.fatalf("the old phone's passkey: logged in %v, message %q; want %q", ok, msg, msgLoginFailed)
	}
	srv.logged(t, mark, "login rejected", "no stored credential with this ID")
	oldPhone.notLoggedIn()
	if got := newPhone.account().Sessions; len(got) != 1 {
		newPhone.fatalf("sessions %q after the old phone tried to log in: want only this one", got)
	}

	// A recovery code works once.
	oldPhone.navigate("/recover")
	oldPhone.fillIdentity(hoWingSze)
	oldPhone.setValue("#code", codes[0])
	oldPhone.submitForm()
	if p := oldPhone.path(); p != "/recover" {
		oldPhone.fatalf("a used recovery code led to %s", p)
	}
	if msg := oldPhone.text(".alert.error"); msg != msgNotVerified {
		oldPhone.fatalf("a used recovery code: message %q, want %q", msg, msgNotVerified)
	}
	if got := newPhone.account().passkeyIDs(); !slices.Equal(got, []string{credID(newCred)}) {
		newPhone.fatalf("a refused recovery changed the passkeys: %q", got)
	}
}
