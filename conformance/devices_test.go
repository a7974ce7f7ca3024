package conformance

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// addSecondDevice clicks "Add a passkey on another device" on the account
// page with the phone first in the tab, and returns the new device's
// authenticator, with the first phone's credential as it was after the
// re-authentication. The first phone is no longer in the tab afterwards.
//
// Chromium offers a ceremony to every virtual authenticator of the tab, and
// which one answers first is not ours to choose; a phone that holds an
// excluded credential even fails a create() outright. So the two devices
// are never in the tab together: the page's request for the registration
// options is held (Fetch domain, response stage) — it is sent only after
// the server accepted the re-authentication, which the first phone alone
// could have made — then the first phone leaves, the second comes, and the
// page goes on to create() on the second. The page's own script runs
// unchanged.
func (tb *tab) addSecondDevice(first *authenticator) (second *authenticator, firstCred *cdpwebauthn.Credential) {
	tb.t.Helper()
	before := first.only()

	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{
		URLPattern: "*/api/passkey/register/options", RequestStage: fetch.RequestStageResponse,
	}}}); err != nil {
		tb.fatalf("Fetch.enable: %v", err)
	}
	defer chromedp.Call(tb.ctx, fetch.Disable, struct{}{})

	tb.click("#add-passkey-button")
	var ev fetch.EventRequestPaused
	for e, err := range paused {
		if err != nil {
			tb.fatalf("waiting for the registration options: %v (status: %s)", err, tb.text("#add-status"))
		}
		ev = e
		break
	}
	if ev.ResponseStatusCode != 200 {
		tb.fatalf("registration options after re-authentication: HTTP %d", ev.ResponseStatusCode)
	}
	body, err := chromedp.Call(tb.ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
	if err != nil {
		tb.fatalf("Fetch.getResponseBody: %v", err)
	}

	// The re-authentication was the first phone's: its counter moved.
	firstCred = first.only()
	if firstCred.SignCount <= before.SignCount {
		tb.fatalf("the first phone's counter stayed at %v: the re-authentication was not its", firstCred.SignCount)
	}
	// The options exclude the first phone's credential (WebAuthn §5.4.3),
	// so that it cannot be registered twice.
	var opts struct {
		PublicKey *struct {
			ExcludeCredentials []struct{ ID string }
		} `json:"publicKey"`
		ExcludeCredentials []struct{ ID string }
	}
	if err := json.Unmarshal(body.Body, &opts); err != nil {
		tb.fatalf("registration options: %v\n%s", err, body.Body)
	}
	excluded := opts.ExcludeCredentials
	if opts.PublicKey != nil {
		excluded = opts.PublicKey.ExcludeCredentials
	}
	if !slices.ContainsFunc(excluded, func(c struct{ ID string }) bool { return c.ID == credID(firstCred) }) {
		tb.fatalf("excludeCredentials %v lacks the first phone's credential %s", excluded, credID(firstCred))
	}

	first.remove()
	second = tb.addAuthenticator()
	if _, err := chromedp.Call(tb.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID}); err != nil {
		tb.fatalf("Fetch.continueRequest: %v", err)
	}
	got := tb.waitFor("the added passkey", `location.pathname === "/account" && location.search === "?done=added" && document.readyState === "complete" ? "OK" :
		(document.querySelector("#add-status.error") || {}).textContent`)
	if got != "OK" {
		tb.fatalf("adding a passkey failed: %s", got)
	}
	return second, firstCred
}

// TestSecondDeviceThenRemoveTheFirst: a resident adds a passkey on another
// device after confirming with the first, logs in with the new device
// alone, and removes the first passkey, which then no longer logs in.
func TestSecondDeviceThenRemoveTheFirst(t *testing.T) {
	srv := sharedServer(t)
	tb := newTab(t, srv.URL)
	phone := tb.addAuthenticator()
	tb.register(wongKaHo)

	tablet, phoneCred := tb.addSecondDevice(phone)
	tabletCred := tablet.only()
	if credID(tabletCred) == credID(phoneCred) {
		tb.fatalf("the new device holds the first phone's credential")
	}
	acct := tb.account()
	if acct.Notice != "The new passkey was added." {
		tb.fatalf("notice %q", acct.Notice)
	}
	if got, want := slices.Sorted(slices.Values(acct.passkeyIDs())), slices.Sorted(slices.Values([]string{credID(phoneCred), credID(tabletCred)})); !slices.Equal(got, want) {
		tb.fatalf("account passkeys %q, want %q", got, want)
	}
	for _, p := range acct.Passkeys {
		if !p.Remove {
			tb.fatalf("with two passkeys, %s cannot be removed", p.ID)
		}
	}

	// Log in with the second device only (the first phone left the tab).
	tb.logout()
	tb.mustLogin()
	if tablet.only().SignCount <= tabletCred.SignCount {
		tb.fatalf("the login was not the new device's")
	}

	// Remove the first passkey on the account page.
	tb.account()
	tb.clickAndLoad(`#passkeys > li[data-credential="` + credID(phoneCred) + `"] form[action="/account/passkeys/remove"] button`)
	acct = tb.account()
	if got := acct.passkeyIDs(); !slices.Equal(got, []string{credID(tabletCred)}) {
		tb.fatalf("after removing the first passkey the account lists %q, want only %q", got, credID(tabletCred))
	}
	if acct.Passkeys[0].Remove {
		tb.fatalf("the last passkey can be removed")
	}
	if !slices.Contains(acct.Activity, "Passkey removed") {
		tb.fatalf("activity %q lacks the removal", acct.Activity)
	}

	// The first phone, back in the tab, no longer logs in.
	tb.logout()
	tablet.remove()
	old := tb.addAuthenticator()
	old.addCredential(phoneCred)
	mark := srv.logs.mark()
	if ok, msg := tb.login(); ok || msg != msgLoginFailed {
		tb.fatalf("the removed passkey: logged in %v, message %q; want %q", ok, msg, msgLoginFailed)
	}
	srv.logged(t, mark, "login rejected", "no stored credential with this ID")
	tb.notLoggedIn()
}
