package web

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"eidp/hsm/keyring"
	"eidp/hsm/testkeys"
	"eidp/idp/account"
	"eidp/idp/passkey/passkeytest"
	"eidp/internal/testenv"
	"eidp/signing/activation"
	"eidp/signing/ca"
)

// signSite is a site with remote signing wired in (a CA on a soft key
// backend, the activation store), a fake clock shared by the pages, the
// store and the CA, and one registered, logged-in resident.
type signSite struct {
	*site
	clock    *testenv.Clock
	acts     *activation.Store
	ca       *ca.Authority
	c        *http.Client
	phone    *passkeytest.Authenticator
	resident string
}

func newSignSite(t *testing.T, dbURL string) *signSite {
	t.Helper()
	ctx := context.Background()
	ss := &signSite{clock: testenv.NewClock(time.Now().UTC())}
	st := newSite(t, dbURL, func(d *Deps) {
		km := testkeys.Soft(t)
		ring := keyring.New(d.DB, km, keyring.WithClock(ss.clock.Now))
		var err error
		ss.ca, err = ca.New(d.DB, ring, km, ca.Config{BaseURL: "http://localhost:8080"}, ca.WithClock(ss.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ss.ca.Init(ctx); err != nil {
			t.Fatal(err)
		}
		ss.acts = activation.New(d.DB, activation.WithClock(ss.clock.Now))
		d.Activations, d.CA = ss.acts, ss.ca
	})
	st.Server.now = ss.clock.Now
	ss.site = st
	ss.c = st.browser(t)
	ss.phone = passkeytest.NewAuthenticator(st.origin())
	st.register(t, ss.c, ss.phone, chanTaiMan)
	resident, err := st.Accounts.ByIDNumber(ctx, "A1234563")
	if err != nil {
		t.Fatal(err)
	}
	ss.resident = resident.ID
	return ss
}

// raise sets a resident's assurance level to high, as an operator does
// after attended proofing.
func (ss *signSite) raise(t *testing.T, residentID string) {
	t.Helper()
	if err := ss.Accounts.SetLevel(context.Background(), residentID, "high"); err != nil {
		t.Fatal(err)
	}
}

// issue gives a resident a certificate directly from the CA.
func (ss *signSite) issue(t *testing.T, residentID string) ca.Certificate {
	t.Helper()
	c, err := ss.ca.Issue(context.Background(), ca.IssueRequest{ResidentID: residentID, GivenName: "Tai Man", FamilyName: "Chan", Level: ca.LevelHigh})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// request is a service's request for the resident to sign two documents.
func (ss *signSite) request(t *testing.T, residentID, certID string) activation.Request {
	t.Helper()
	req, _, err := ss.acts.Create(context.Background(), activation.Request{
		Route: activation.RouteExplicit, ClientID: "tribunal", ClientName: "Small Claims Tribunal", ClientNameZh: "小額錢債審裁處",
		ResidentID: residentID, CredentialID: certID, Hash: crypto.SHA256,
		Documents: []activation.Document{
			{Label: "Claim form SCT-1", Hash: digest("claim form")},
			{Label: "Statement <of> truth", Hash: digest("statement")},
		},
		Description: "Your claim against ACME Ltd.",
	})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (ss *signSite) state(t *testing.T, id string) activation.Request {
	t.Helper()
	req, err := ss.acts.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// approve runs the approval ceremony with the resident's phone and returns
// the status and body of the approve call.
func (ss *signSite) approve(t *testing.T, id, next string) (int, string) {
	t.Helper()
	_, _, token := ss.get(t, ss.c, signPagePath(id, ""))
	opts := ss.ceremony(t, ss.c, token, "/api/sign/options", map[string]string{"id": id})
	resp, err := ss.phone.Get(opts)
	if err != nil {
		t.Fatalf("authenticator get: %v", err)
	}
	b, _ := json.Marshal(map[string]any{"id": id, "response": json.RawMessage(resp), "next": next})
	return ss.postJSON(t, ss.c, "/api/sign/approve", "application/json", token, string(b))
}

func (ss *signSite) activity(t *testing.T, kind account.Kind) []account.Event {
	t.Helper()
	events, err := ss.Accounts.Activity(context.Background(), ss.resident, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []account.Event
	for _, e := range events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestApprovingASignatureWithAPasskey(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			ss := newSignSite(t, d.URL)
			ss.raise(t, ss.resident)
			cert := ss.issue(t, ss.resident)
			req := ss.request(t, ss.resident, cert.ID)

			code, page, _ := ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
			claimHex := hex.EncodeToString(digest("claim form"))
			for _, want := range []string{"Small Claims Tribunal asks you to sign", "Your claim against ACME Ltd.",
				"Claim form SCT-1", "Statement &lt;of&gt; truth", "SHA-256", claimHex[:16] + "…", claimHex,
				`id="sign-code">` + req.Code() + "<", "Tai Man CHAN", hexPairs(cert.Serial.Bytes()),
				`id="sign-approve-button"`, `id="sign-deny"`, `id="sign-expires"`} {
				if !strings.Contains(page, want) {
					t.Errorf("the approval page (%d) lacks %q", code, want)
				}
			}
			if t.Failed() {
				t.Fatal(page)
			}

			status, body := ss.approve(t, req.ID, "")
			if status != http.StatusOK || !strings.Contains(body, `"redirect":"/account/signing?done=approved"`) {
				t.Fatalf("approve: %d %s", status, body)
			}
			got := ss.state(t, req.ID)
			if got.State != activation.StateApproved {
				t.Fatalf("state %s after approval", got.State)
			}
			// The evidence is the assertion, and it answers exactly the
			// request's challenge.
			var ev approvalEvidence
			if err := json.Unmarshal(got.Evidence, &ev); err != nil {
				t.Fatalf("evidence: %v: %s", err, got.Evidence)
			}
			challenge := base64.RawURLEncoding.EncodeToString(activation.Challenge(req))
			var clientData struct{ Challenge, Type string }
			json.Unmarshal(ev.ClientDataJSON, &clientData)
			if ev.Challenge != challenge || clientData.Challenge != challenge || clientData.Type != "webauthn.get" ||
				len(ev.Signature) == 0 || len(ev.PublicKey) == 0 || len(ev.AuthenticatorData) < 37 {
				t.Fatalf("evidence does not carry the challenge %s: %+v / %+v", challenge, ev, clientData)
			}
			if ev.AuthenticatorData[32]&0x04 == 0 {
				t.Fatal("evidence of an assertion without user verification")
			}

			if e := ss.activity(t, account.KindSignatureApproved); len(e) != 1 || e[0].Detail["client"] != "Small Claims Tribunal" ||
				e[0].Detail["documents"] != "2" || strings.Contains(e[0].Detail["client"]+e[0].Detail["client_zh"], "Claim form") {
				t.Fatalf("activity: %+v", e)
			}
			if _, page, _ := ss.get(t, ss.c, "/account"); !strings.Contains(page, "Approved a signature for Small Claims Tribunal") {
				t.Fatal("the account page does not show the approval")
			}
			if _, page, _ := ss.get(t, ss.c, "/account", "Accept-Language", "zh-HK"); !strings.Contains(page, "已批准為「小額錢債審裁處」簽署") {
				t.Fatal("the account page does not show the approval in Chinese")
			}

			// Answered: the page explains, without buttons; a second
			// approval is refused.
			_, page, token := ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
			if !strings.Contains(page, `data-state="approved"`) || strings.Contains(page, `id="sign-approve-button"`) || strings.Contains(page, `id="sign-deny"`) {
				t.Fatalf("answered request page:\n%s", page)
			}
			if status, body := ss.postJSON(t, ss.c, "/api/sign/options", "application/json", token, `{"id":"`+req.ID+`"}`); status != http.StatusConflict || !strings.Contains(body, "You approved this request") {
				t.Fatalf("options for an approved request: %d %s", status, body)
			}
		})
	}
}

func TestAnotherResidentsRequestIsNotFound(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	wong := url.Values{"id_number": {"AB987654(3)"}, "birth_date": {"1962-11-03"}, "name": {"WONG Ka Ho"}}
	other := ss.browser(t)
	ss.register(t, other, passkeytest.NewAuthenticator(ss.origin()), wong)
	w, err := ss.Accounts.ByIDNumber(context.Background(), "AB9876543")
	if err != nil {
		t.Fatal(err)
	}
	ss.raise(t, w.ID)
	req := ss.request(t, w.ID, ss.issue(t, w.ID).ID)

	code, theirs, _ := ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
	_, unknown, token := ss.get(t, ss.c, "/sign?id=no-such-request")
	if code != http.StatusNotFound || strings.Contains(theirs, "Small Claims") || theirs != strings.Replace(unknown, "no-such-request", req.ID, -1) {
		t.Fatalf("another resident's request: %d\n%s", code, theirs)
	}
	for _, api := range []string{"/api/sign/options", "/api/sign/approve"} {
		if status, body := ss.postJSON(t, ss.c, api, "application/json", token, `{"id":"`+req.ID+`","response":{}}`); status != http.StatusNotFound {
			t.Errorf("%s: %d %s", api, status, body)
		}
	}
	resp, _ := ss.postForm(t, ss.c, "/sign/deny", url.Values{"csrf": {token}, "id": {req.ID}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("deny: %d", resp.StatusCode)
	}
	if got := ss.state(t, req.ID); got.State != activation.StatePending || got.Evidence != nil {
		t.Fatalf("another resident changed the request: %+v", got)
	}
}

func TestApprovalNeedsUserVerification(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			ss := newSignSite(t, d.URL)
			ss.raise(t, ss.resident)
			req := ss.request(t, ss.resident, ss.issue(t, ss.resident).ID)

			ss.phone.SetUserVerified(false)
			status, body := ss.approve(t, req.ID, "")
			ss.phone.SetUserVerified(true)
			if status != http.StatusBadRequest || !strings.Contains(body, "did not check that it is you") {
				t.Fatalf("approval without UV: %d %s", status, body)
			}
			if got := ss.state(t, req.ID); got.State != activation.StatePending || got.Evidence != nil {
				t.Fatalf("approved without user verification: %+v", got)
			}
			if e := ss.activity(t, account.KindSignatureApproved); len(e) != 0 {
				t.Fatalf("activity after a refused approval: %+v", e)
			}
			// The refused ceremony is over; trying again with the resident
			// verified works.
			if status, body := ss.approve(t, req.ID, ""); status != http.StatusOK {
				t.Fatalf("approval with UV after a refusal: %d %s", status, body)
			}
		})
	}
}

func TestAnAssertionForAnotherRequestDoesNotApprove(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ss.raise(t, ss.resident)
	cert := ss.issue(t, ss.resident)
	first, second := ss.request(t, ss.resident, cert.ID), ss.request(t, ss.resident, cert.ID)
	_, _, token := ss.get(t, ss.c, "/account/signing")
	opts := ss.ceremony(t, ss.c, token, "/api/sign/options", map[string]string{"id": first.ID})
	resp, err := ss.phone.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": second.ID, "response": json.RawMessage(resp)})
	if status, body := ss.postJSON(t, ss.c, "/api/sign/approve", "application/json", token, string(b)); status != http.StatusBadRequest {
		t.Fatalf("an assertion for the first request approving the second: %d %s", status, body)
	}
	for _, r := range []activation.Request{first, second} {
		if got := ss.state(t, r.ID); got.State != activation.StatePending {
			t.Fatalf("request %s is %s", r.ID, got.State)
		}
	}
}

func TestAnExpiredRequestIsRefused(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ss.raise(t, ss.resident)
	req := ss.request(t, ss.resident, ss.issue(t, ss.resident).ID)
	_, _, token := ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
	opts := ss.ceremony(t, ss.c, token, "/api/sign/options", map[string]string{"id": req.ID})
	resp, err := ss.phone.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	ss.clock.Advance(11 * time.Minute)

	b, _ := json.Marshal(map[string]any{"id": req.ID, "response": json.RawMessage(resp)})
	if status, body := ss.postJSON(t, ss.c, "/api/sign/approve", "application/json", token, string(b)); status != http.StatusGone || !strings.Contains(body, "expired") {
		t.Fatalf("approving an expired request: %d %s", status, body)
	}
	if status, _ := ss.postJSON(t, ss.c, "/api/sign/options", "application/json", token, `{"id":"`+req.ID+`"}`); status != http.StatusGone {
		t.Fatalf("options for an expired request: %d", status)
	}
	if got := ss.state(t, req.ID); got.State != activation.StatePending || got.Evidence != nil {
		t.Fatalf("expired request changed: %+v", got)
	}
	_, page, _ := ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
	if !strings.Contains(page, `data-state="expired"`) || strings.Contains(page, `id="sign-approve-button"`) {
		t.Fatalf("expired request page:\n%s", page)
	}
}

func TestDecliningARequest(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ss.raise(t, ss.resident)
	cert := ss.issue(t, ss.resident)
	req := ss.request(t, ss.resident, cert.ID)
	_, _, token := ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))

	// Without the CSRF token nothing happens.
	if resp, _ := ss.postForm(t, ss.c, "/sign/deny", url.Values{"id": {req.ID}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("deny without CSRF: %d", resp.StatusCode)
	}
	if got := ss.state(t, req.ID); got.State != activation.StatePending {
		t.Fatalf("state %s after a forged deny", got.State)
	}

	resp, _ := ss.postForm(t, ss.c, "/sign/deny", url.Values{"csrf": {token}, "id": {req.ID}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/signing?done=declined" {
		t.Fatalf("deny: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := ss.state(t, req.ID); got.State != activation.StateDenied {
		t.Fatalf("state %s after deny", got.State)
	}
	if e := ss.activity(t, account.KindSignatureDeclined); len(e) != 1 || e[0].Detail["client"] != "Small Claims Tribunal" {
		t.Fatalf("activity: %+v", e)
	}
	if _, page, _ := ss.get(t, ss.c, "/account/signing?done=declined"); !strings.Contains(page, "Declined. Nothing was signed.") {
		t.Fatal("no notice after declining")
	}
	_, page, _ := ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
	if !strings.Contains(page, `data-state="declined"`) || strings.Contains(page, `id="sign-approve-button"`) {
		t.Fatalf("declined request page:\n%s", page)
	}
	// A declined request cannot be approved afterwards.
	if status, _ := ss.postJSON(t, ss.c, "/api/sign/options", "application/json", token, `{"id":"`+req.ID+`"}`); status != http.StatusConflict {
		t.Fatalf("options after decline: %d", status)
	}
	// Declining again lands on the page that says so.
	resp, _ = ss.postForm(t, ss.c, "/sign/deny", url.Values{"csrf": {token}, "id": {req.ID}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/sign?id=") {
		t.Fatalf("second deny: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSignNextAcceptsOnlyTheProvidersResumePath(t *testing.T) {
	for in, want := range map[string]string{
		"/authorize/resume?id=abc":                     "/authorize/resume?id=abc",
		"https://evil.example/authorize/resume?id=abc": "",
		"//evil.example/authorize/resume?id=abc":       "",
		"/authorize/other?id=abc":                      "",
		"/authorize/resume":                            "",
		"/authorize/resume/../../x?id=1":               "",
		"/authorize/resume?id=a\tb":                    "",
		"/account":                                     "",
		"":                                             "",
	} {
		if got, ok := signNext(in); got != want || ok != (want != "") {
			t.Errorf("%q → %q %v, want %q", in, got, ok, want)
		}
	}
}

func TestAfterAnAnswerTheResidentGoesBackOnlyToTheProvider(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ss.raise(t, ss.resident)
	cert := ss.issue(t, ss.resident)
	const resume = "/authorize/resume?id=oauth-1"

	// Approve: a valid next is where the browser goes; an absolute URL is ignored.
	for next, want := range map[string]string{
		resume:                             resume,
		"https://evil.example" + resume:    "/account/signing?done=approved",
		"/account/signing?done=approved#x": "/account/signing?done=approved",
	} {
		req := ss.request(t, ss.resident, cert.ID)
		status, body := ss.approve(t, req.ID, next)
		var result ceremonyResult
		json.Unmarshal([]byte(body), &result)
		if status != http.StatusOK || result.Redirect != want {
			t.Errorf("next %q: %d, redirect %q, want %q", next, status, result.Redirect, want)
		}
	}

	// Decline, and the page's own links.
	for next, want := range map[string]string{
		resume:                          resume,
		"https://evil.example" + resume: "/account/signing?done=declined",
	} {
		req := ss.request(t, ss.resident, cert.ID)
		_, page, token := ss.get(t, ss.c, "/sign?"+url.Values{"id": {req.ID}, "next": {next}}.Encode())
		if strings.Contains(page, "evil.example") {
			t.Errorf("the page carries %q", next)
		}
		resp, _ := ss.postForm(t, ss.c, "/sign/deny", url.Values{"csrf": {token}, "id": {req.ID}, "next": {next}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("deny with next %q: %d → %s, want %s", next, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestTheApprovalPageNeedsALogin(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	stranger := ss.browser(t)
	for path, want := range map[string]string{
		"/sign?id=r1": "/login?" + url.Values{"next": {"/sign?id=r1"}}.Encode(),
		"/sign?id=r1&next=" + url.QueryEscape("/authorize/resume?id=o1"): "/login?" + url.Values{"next": {"/authorize/resume?id=o1"}}.Encode(),
	} {
		resp, _ := ss.fetch(t, stranger, path)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("%s: %d → %s, want %s", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	token := ss.csrf(t, stranger)
	for _, api := range []string{"/api/sign/options", "/api/sign/approve", "/api/sign/enrol/options", "/api/sign/enrol"} {
		if status, _ := ss.postJSON(t, stranger, api, "application/json", token, `{"id":"r1"}`); status != http.StatusUnauthorized {
			t.Errorf("%s without a session: %d", api, status)
		}
	}
	for _, path := range []string{"/account/signing", "/account/signing/certificate.pem"} {
		if resp, _ := ss.fetch(t, stranger, path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("%s without a session: %d → %s", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestSigningAPIsRefuseBadInput(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	_, _, token := ss.get(t, ss.c, "/account/signing")
	for _, api := range []string{"/api/sign/options", "/api/sign/approve", "/api/sign/enrol/options", "/api/sign/enrol"} {
		for _, tc := range []struct {
			name, ctype, csrf, body string
			status                  int
		}{
			{"wrong content type", "text/plain", token, "{}", http.StatusUnsupportedMediaType},
			{"missing CSRF token", "application/json", "", "{}", http.StatusForbidden},
			{"oversized body", "application/json", token, `{"id":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
		} {
			if status, body := ss.postJSON(t, ss.c, api, tc.ctype, tc.csrf, tc.body); status != tc.status || !strings.Contains(body, `"error_description"`) {
				t.Errorf("%s, %s: %d %s", api, tc.name, status, body)
			}
		}
	}
	if status, _ := ss.postJSON(t, ss.c, "/api/sign/options", "application/json", token, `{"id":`); status != http.StatusBadRequest {
		t.Errorf("malformed JSON: %d", status)
	}
	if status, _ := ss.postJSON(t, ss.c, "/api/sign/options", "application/json", token, `{"id":"`+strings.Repeat("x", 65)+`"}`); status != http.StatusNotFound {
		t.Errorf("oversized id: %d", status)
	}
}

func TestGettingASigningCertificate(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			ss := newSignSite(t, d.URL)
			ctx := context.Background()

			// At level substantial: told why and how, and refused.
			_, page, token := ss.get(t, ss.c, "/account/signing")
			if !strings.Contains(page, `id="level-too-low"`) || !strings.Contains(page, "Substantial") || strings.Contains(page, `id="sign-enrol-button"`) {
				t.Fatalf("signing page at level substantial:\n%s", page)
			}
			if status, body := ss.postJSON(t, ss.c, "/api/sign/enrol/options", "application/json", token, "{}"); status != http.StatusForbidden || !strings.Contains(body, "assurance level High") {
				t.Fatalf("enrolment options at level substantial: %d %s", status, body)
			}
			if status, _ := ss.postJSON(t, ss.c, "/api/sign/enrol", "application/json", token, `{"response":{}}`); status != http.StatusForbidden {
				t.Fatalf("enrolment at level substantial: %d", status)
			}
			if _, err := ss.ca.Current(ctx, ss.resident); err != ca.ErrNoCertificate {
				t.Fatalf("a certificate below level high: %v", err)
			}

			// At level high.
			ss.raise(t, ss.resident)
			_, page, token = ss.get(t, ss.c, "/account/signing")
			if !strings.Contains(page, `id="sign-enrol-button"`) || !strings.Contains(page, `id="no-certificate"`) {
				t.Fatalf("signing page at level high:\n%s", page)
			}
			opts := ss.ceremony(t, ss.c, token, "/api/sign/enrol/options", nil)
			resp, err := ss.phone.Get(opts)
			if err != nil {
				t.Fatal(err)
			}
			var result ceremonyResult
			json.Unmarshal(ss.ceremony(t, ss.c, token, "/api/sign/enrol", map[string]any{"response": json.RawMessage(resp)}), &result)
			if result.Redirect != "/account/signing?done=issued" {
				t.Fatalf("enrolment result: %+v", result)
			}
			cert, err := ss.ca.Current(ctx, ss.resident)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Cert.Subject.CommonName != "Tai Man CHAN" {
				t.Fatalf("subject %q", cert.Cert.Subject.CommonName)
			}
			if e := ss.activity(t, account.KindCertificateIssued); len(e) != 1 || e[0].Detail["serial"] != cert.Serial.Text(16) {
				t.Fatalf("activity: %+v", e)
			}
			_, page, _ = ss.get(t, ss.c, "/account/signing?done=issued")
			for _, want := range []string{"Your signing certificate is ready.", `data-certificate="` + cert.ID + `"`, "Tai Man CHAN",
				hexPairs(cert.Serial.Bytes()), `id="certificate-status">Valid<`, `id="certificate-download"`, `id="revoke-form"`} {
				if !strings.Contains(page, want) {
					t.Errorf("signing page lacks %q", want)
				}
			}

			// The PEM download is the certificate and its chain.
			r, body := ss.fetch(t, ss.c, "/account/signing/certificate.pem")
			if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "application/x-pem-file" {
				t.Fatalf("download: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
			}
			var certs []*x509.Certificate
			rest := []byte(body)
			for {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				certs = append(certs, c)
			}
			if len(certs) != 3 || !certs[0].Equal(cert.Cert) || !certs[1].Equal(cert.Chain[0]) {
				t.Fatalf("download holds %d certificates", len(certs))
			}
			if err := certs[0].CheckSignatureFrom(certs[1]); err != nil {
				t.Fatalf("downloaded chain: %v", err)
			}

			// Enrolment needs a fresh user-verified passkey check.
			opts = ss.ceremony(t, ss.c, token, "/api/sign/enrol/options", nil)
			ss.phone.SetUserVerified(false)
			resp, err = ss.phone.Get(opts)
			ss.phone.SetUserVerified(true)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(map[string]any{"response": json.RawMessage(resp)})
			if status, _ := ss.postJSON(t, ss.c, "/api/sign/enrol", "application/json", token, string(b)); status != http.StatusBadRequest {
				t.Fatalf("enrolment without UV: %d", status)
			}
			if again, err := ss.ca.Current(ctx, ss.resident); err != nil || again.ID != cert.ID {
				t.Fatalf("a refused enrolment changed the certificate: %v", err)
			}
		})
	}
}

func TestRevokingTheCertificate(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ctx := context.Background()
	ss.raise(t, ss.resident)
	cert := ss.issue(t, ss.resident)
	req := ss.request(t, ss.resident, cert.ID)
	_, _, token := ss.get(t, ss.c, "/account/signing")

	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"without a reason", url.Values{"confirm": {"yes"}}, "Please choose why"},
		{"with an unknown reason", url.Values{"reason": {"keyCompromise"}, "confirm": {"yes"}}, "Please choose why"},
		{"without confirmation", url.Values{"reason": {"lost"}}, "Please tick the box"},
	} {
		resp, body := ss.postForm(t, ss.c, "/account/signing/revoke", withCSRF(tc.form, token))
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d", tc.name, resp.StatusCode)
		}
	}
	if resp, _ := ss.postForm(t, ss.c, "/account/signing/revoke", url.Values{"reason": {"lost"}, "confirm": {"yes"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without CSRF: %d", resp.StatusCode)
	}
	if c, _ := ss.ca.Get(ctx, cert.ID); c.Status != ca.StatusValid {
		t.Fatalf("refused revocations revoked: %s", c.Status)
	}

	resp, _ := ss.postForm(t, ss.c, "/account/signing/revoke", withCSRF(url.Values{"reason": {"lost"}, "confirm": {"yes"}}, token))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/signing?done=revoked" {
		t.Fatalf("revoke: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	c, err := ss.ca.Get(ctx, cert.ID)
	if err != nil || c.Status != ca.StatusRevoked || c.Reason != ca.ReasonKeyCompromise {
		t.Fatalf("after revocation: %+v %v", c, err)
	}
	if e := ss.activity(t, account.KindCertificateRevoked); len(e) != 1 || e[0].Detail["reason"] != "keyCompromise" || e[0].Detail["serial"] != cert.Serial.Text(16) {
		t.Fatalf("activity: %+v", e)
	}
	_, page, _ := ss.get(t, ss.c, "/account/signing?done=revoked")
	if !strings.Contains(page, "Your certificate is revoked.") || !strings.Contains(page, `id="no-certificate"`) ||
		!strings.Contains(page, `id="past-certificates"`) || !strings.Contains(page, "I lost my phone") || strings.Contains(page, `id="revoke-form"`) {
		t.Fatalf("signing page after revocation:\n%s", page)
	}
	// The pending request for the revoked certificate can no longer be approved.
	_, page, _ = ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
	if !strings.Contains(page, `data-state="unusable"`) || strings.Contains(page, `id="sign-approve-button"`) {
		t.Fatalf("request for a revoked certificate:\n%s", page)
	}
	if status, _ := ss.postJSON(t, ss.c, "/api/sign/options", "application/json", token, `{"id":"`+req.ID+`"}`); status != http.StatusConflict {
		t.Fatalf("options for a revoked certificate: %d", status)
	}
	// Nothing left to revoke.
	resp, _ = ss.postForm(t, ss.c, "/account/signing/revoke", withCSRF(url.Values{"reason": {"unneeded"}, "confirm": {"yes"}}, token))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("revoking again: %d", resp.StatusCode)
	}

	// "I no longer need it" is cessationOfOperation.
	second := ss.issue(t, ss.resident)
	ss.postForm(t, ss.c, "/account/signing/revoke", withCSRF(url.Values{"reason": {"unneeded"}, "confirm": {"yes"}}, token))
	if c, _ := ss.ca.Get(ctx, second.ID); c.Status != ca.StatusRevoked || c.Reason != ca.ReasonCessationOfOperation {
		t.Fatalf("unneeded: %+v", c)
	}
}

func TestPendingRequestsAndHistory(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ss.raise(t, ss.resident)
	cert := ss.issue(t, ss.resident)
	req := ss.request(t, ss.resident, cert.ID)
	done := ss.request(t, ss.resident, cert.ID)
	if status, body := ss.approve(t, done.ID, ""); status != http.StatusOK {
		t.Fatalf("approve: %d %s", status, body)
	}
	err := ss.acts.AddRecords(context.Background(), []activation.Record{{
		RequestID: done.ID, ResidentID: ss.resident, ClientID: "tribunal", ClientName: "Small Claims Tribunal", ClientNameZh: "小額錢債審裁處",
		CredentialID: cert.ID, CertSerial: cert.Serial.Text(16), HashOID: activation.HashOID(crypto.SHA256),
		Digest: digest("claim form"), Label: "Claim form SCT-1", Format: "PAdES-B-LT",
	}, {
		RequestID: done.ID, ResidentID: ss.resident, ClientID: "tribunal", ClientName: "Small Claims Tribunal",
		CredentialID: cert.ID, CertSerial: cert.Serial.Text(16), HashOID: activation.HashOID(crypto.SHA256),
		Digest: digest("statement"), Label: "Statement <of> truth", Format: "raw",
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, page, _ := ss.get(t, ss.c, "/account/signing")
	pending := page[strings.Index(page, `id="pending-h"`):strings.Index(page, `id="history-h"`)]
	if strings.Count(pending, "data-request=") != 1 || !strings.Contains(pending, `href="/sign?id=`+req.ID+`"`) || !strings.Contains(pending, "2 document(s)") {
		t.Fatalf("pending requests:\n%s", pending)
	}
	history := page[strings.Index(page, `id="history-h"`):]
	for _, want := range []string{"Claim form SCT-1", "Small Claims Tribunal · PAdES-B-LT", "Statement &lt;of&gt; truth", "Small Claims Tribunal · signature value"} {
		if !strings.Contains(history, want) {
			t.Errorf("history lacks %q:\n%s", want, history)
		}
	}
	_, page, _ = ss.get(t, ss.c, "/account/signing", "Accept-Language", "zh-HK")
	if !strings.Contains(page, "小額錢債審裁處 · PAdES-B-LT") {
		t.Error("the history does not name the service in Chinese")
	}
}

func TestSigningPagesRenderInBothLanguages(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ss.raise(t, ss.resident)
	old := ss.issue(t, ss.resident)
	cert := ss.issue(t, ss.resident) // supersedes old: a past certificate
	pending := ss.request(t, ss.resident, cert.ID)
	approved := ss.request(t, ss.resident, cert.ID)
	ss.approve(t, approved.ID, "")
	declined := ss.request(t, ss.resident, cert.ID)
	_, _, token := ss.get(t, ss.c, "/account")
	ss.postForm(t, ss.c, "/sign/deny", url.Values{"csrf": {token}, "id": {declined.ID}})
	ss.acts.AddRecords(context.Background(), []activation.Record{{RequestID: approved.ID, ResidentID: ss.resident, ClientName: "Small Claims Tribunal",
		CredentialID: cert.ID, CertSerial: cert.Serial.Text(16), HashOID: activation.HashOID(crypto.SHA256), Digest: digest("x"), Label: "x", Format: "raw"}})
	if old.ID == cert.ID {
		t.Fatal("no past certificate")
	}
	paths := []string{"/account", "/account/signing", "/account/signing?done=issued", "/sign?id=" + pending.ID, "/sign?id=" + approved.ID, "/sign?id=" + declined.ID}
	// Each page's title, in each language.
	words := map[string][2]string{"/account": {"My account", "我的帳戶"}, "/account/signing": {"Digital signatures", "數碼簽署"},
		"/sign": {"Sign documents", "簽署文件"}}
	check := func(t *testing.T, lang, accept string) {
		t.Helper()
		for _, path := range paths {
			word := words[strings.Split(path, "?")[0]][0]
			if lang != "en" {
				word = words[strings.Split(path, "?")[0]][1]
			}
			code, body, _ := ss.get(t, ss.c, path, "Accept-Language", accept)
			if code != http.StatusOK || !strings.Contains(body, `<html lang="`+lang+`">`) || !strings.Contains(body, "<title>"+word) {
				t.Errorf("%s %s: %d, not in that language", lang, path, code)
			}
			if m := missingMessage.FindString(body); m != "" {
				t.Errorf("%s %s: message %s has no text", lang, path, m)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, " style=") {
				t.Errorf("%s %s: inline script or style", lang, path)
			}
		}
	}
	check(t, "en", "en")
	check(t, "zh-Hant", "zh-HK")
	ss.clock.Advance(time.Hour) // the pending request expires
	check(t, "en", "en")
	check(t, "zh-Hant", "zh-HK")

	// At level substantial, with nothing yet.
	other := newSignSite(t, testenv.SQLite(t))
	for _, lang := range []string{"en", "zh-HK"} {
		_, body, _ := other.get(t, other.c, "/account/signing", "Accept-Language", lang)
		if m := missingMessage.FindString(body); m != "" || !strings.Contains(body, `id="level-too-low"`) {
			t.Errorf("%s: level-too-low page: %s", lang, m)
		}
	}
}

func TestWithoutSigningThereAreNoSigningPages(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	c := st.browser(t)
	st.register(t, c, passkeytest.NewAuthenticator(st.origin()), chanTaiMan)
	if _, page, _ := st.get(t, c, "/account"); strings.Contains(page, "/account/signing") {
		t.Fatal("the account page links signing")
	}
	for _, path := range []string{"/sign?id=x", "/account/signing", "/account/signing/certificate.pem"} {
		if code, _, _ := st.get(t, c, path); code != http.StatusNotFound {
			t.Errorf("%s: %d", path, code)
		}
	}
	token := st.csrf(t, c)
	for _, api := range []string{"/api/sign/options", "/api/sign/approve", "/api/sign/enrol/options", "/api/sign/enrol"} {
		if status, _ := st.postJSON(t, c, api, "application/json", token, `{}`); status != http.StatusNotFound {
			t.Errorf("%s: %d", api, status)
		}
	}
	for _, path := range []string{"/sign/deny", "/account/signing/revoke"} {
		if resp, _ := st.postForm(t, c, path, url.Values{"csrf": {token}, "id": {"x"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func TestTheAccountPageLinksSigning(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	if _, page, _ := ss.get(t, ss.c, "/account"); !strings.Contains(page, `<a href="/account/signing" id="signing-link">`) {
		t.Fatal("no link to the signing page")
	}
}

// The challenge is the request's commitment, the same on every try: a
// resident who closed the passkey prompt asks for options again and
// approves with the new ceremony; the abandoned one is gone.
func TestOptionsTwiceForOneRequest(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ss.raise(t, ss.resident)
	req := ss.request(t, ss.resident, ss.issue(t, ss.resident).ID)
	_, _, token := ss.get(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
	first := ss.ceremony(t, ss.c, token, "/api/sign/options", map[string]string{"id": req.ID})
	second := ss.ceremony(t, ss.c, token, "/api/sign/options", map[string]string{"id": req.ID})
	if string(first) != string(second) {
		// Same commitment, same challenge; the options are otherwise alike too.
		t.Logf("options differ between tries:\n%s\n%s", first, second)
	}
	resp, err := ss.phone.Get(second)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": req.ID, "response": json.RawMessage(resp)})
	if status, body := ss.postJSON(t, ss.c, "/api/sign/approve", "application/json", token, string(b)); status != http.StatusOK {
		t.Fatalf("approve after asking twice: %d %s", status, body)
	}
	if got, err := ss.acts.Get(context.Background(), req.ID); err != nil || got.State != "approved" {
		t.Fatalf("request after approval: %+v, %v", got, err)
	}
}

func FuzzSignNext(f *testing.F) {
	for _, seed := range []string{"/authorize/resume?id=abc", "https://evil.example/authorize/resume?id=1", "//evil.example/authorize/resume?x",
		"/authorize/resume/..%2F..%2Fx?id=1", "/authorize/resume?id=a\\b", "/authorize/resume?next=//evil", "/\t/evil"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		next, ok := signNext(p)
		if !ok {
			if next != "" {
				t.Fatalf("refused %q but returned %q", p, next)
			}
			return
		}
		u, err := url.Parse(next)
		if err != nil || u.Scheme != "" || u.Host != "" || u.Path != "/authorize/resume" || next != p ||
			!printableASCII(next) || strings.ContainsAny(next, "\\#") {
			t.Fatalf("accepted %q (%+v, %v)", p, u, err)
		}
	})
}

// With a return path to the provider, declining ends at the service's
// redirect_uri, so the page must not restrict form-action; without one it
// keeps the default policy.
func TestTheApprovalPagesFormActionPolicy(t *testing.T) {
	ss := newSignSite(t, testenv.SQLite(t))
	ss.raise(t, ss.resident)
	req := ss.request(t, ss.resident, ss.issue(t, ss.resident).ID)
	resp, _ := ss.fetch(t, ss.c, "/sign?id="+url.QueryEscape(req.ID))
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("without next: %s", csp)
	}
	resp, _ = ss.fetch(t, ss.c, "/sign?"+url.Values{"id": {req.ID}, "next": {"/authorize/resume?id=o1"}}.Encode())
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "form-action") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("with next: %s", csp)
	}
}
