package csc_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"eidp/signing/pdf/pdftest"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/hsm/keyring"
	"eidp/hsm/testkeys"
	"eidp/idp/account"
	"eidp/idp/provider"
	"eidp/internal/db"
	"eidp/internal/secret"
	"eidp/internal/testenv"
	"eidp/signing/activation"
	"eidp/signing/ca"
	"eidp/signing/csc"
	"eidp/signing/tsa"
)

const (
	issuer   = "https://eidp.example"
	clientID = "tax"
	tsaOID   = "2.25.301675463513418934196587113384290541822"
)

// tokens is the fake TokenVerifier: the access tokens the test hands out.
type tokens struct {
	mu sync.Mutex
	m  map[string]provider.AccessToken
}

func (v *tokens) VerifyAccessToken(_ context.Context, token string) (provider.AccessToken, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	at, ok := v.m[token]
	if !ok {
		return provider.AccessToken{}, fmt.Errorf("test tokens: %w", provider.ErrInvalidToken)
	}
	return at, nil
}

// fixture is the CSC service over a real CA (soft keys), activation store,
// activity log and TSA on one database engine, served by httptest.
type fixture struct {
	d        *db.DB
	clock    *testenv.Clock
	ca       *ca.Authority
	h        ca.Hierarchy
	act      *activation.Store
	accounts *account.Store
	tsa      *tsa.Authority
	svc      *csc.Service
	srv      *httptest.Server
	tokens   *tokens
}

func newFixture(t testing.TB, d *db.DB, opts csc.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	km := testkeys.Soft(t)
	// The clock starts at the real time: the TSA stamps with the real
	// clock, and its certificate must be valid then.
	clock := testenv.NewClock(time.Now().UTC())
	ring := keyring.New(d, km, keyring.WithClock(clock.Now))
	authority, err := ca.New(d, ring, km, ca.Config{BaseURL: "http://localhost:8080"}, ca.WithClock(clock.Now))
	if err != nil {
		t.Fatalf("ca.New: %v", err)
	}
	h, err := authority.Init(ctx)
	if err != nil {
		t.Fatalf("ca.Init: %v", err)
	}
	key, cert, chain, err := authority.TSA(ctx)
	if err != nil {
		t.Fatalf("ca.TSA: %v", err)
	}
	policy, err := x509.ParseOID(tsaOID)
	if err != nil {
		t.Fatal(err)
	}
	stamper, err := tsa.New(key, cert, chain, policy)
	if err != nil {
		t.Fatalf("tsa.New: %v", err)
	}
	f := &fixture{
		d: d, clock: clock, ca: authority, h: h, tsa: stamper,
		act:      activation.New(d, activation.WithClock(clock.Now)),
		accounts: account.NewStore(d),
		tokens:   &tokens{m: map[string]provider.AccessToken{}},
	}
	opts.Issuer = issuer
	opts.SigningClock = clock.Now
	f.svc, err = csc.New(csc.Deps{
		Tokens: f.tokens, CA: authority, Activations: f.act, TSA: stamper, Accounts: f.accounts,
		ClientNames: func(_ context.Context, id string) (string, string, error) {
			return "Inland Revenue (" + id + ")", "稅務局", nil
		},
	}, opts)
	if err != nil {
		t.Fatalf("csc.New: %v", err)
	}
	f.srv = httptest.NewServer(f.svc.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// resident registers a resident, issues their certificate and returns
// both with a "service" access token of clientID for them.
type resident struct {
	id    string
	cert  ca.Certificate
	token string
}

func (f *fixture) resident(t testing.TB) resident {
	t.Helper()
	ctx := context.Background()
	r, err := f.accounts.Create(ctx, account.Profile{
		IDNumber: "A" + secret.Random(6), Surname: "Chan", GivenNames: "Tai Man", BirthDate: "1980-01-01", Gender: "M",
	}, "high")
	if err != nil {
		t.Fatalf("account Create: %v", err)
	}
	c := f.issue(t, r.ID)
	return resident{id: r.ID, cert: c, token: f.token(r.ID, "", "openid", csc.ScopeService)}
}

func (f *fixture) issue(t testing.TB, residentID string) ca.Certificate {
	t.Helper()
	c, err := f.ca.Issue(context.Background(), ca.IssueRequest{ResidentID: residentID, GivenName: "Tai Man", FamilyName: "Chan", Level: ca.LevelHigh})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return c
}

// token hands out an access token of clientID.
func (f *fixture) token(residentID, grantID string, scopes ...string) string {
	return f.tokenFor(clientID, residentID, grantID, scopes...)
}

func (f *fixture) tokenFor(client, residentID, grantID string, scopes ...string) string {
	tok := secret.Random(16)
	f.tokens.mu.Lock()
	defer f.tokens.mu.Unlock()
	f.tokens.m[tok] = provider.AccessToken{ClientID: client, ResidentID: residentID, Subject: "sub-" + residentID,
		GrantID: grantID, Scopes: scopes, Expiry: time.Now().Add(time.Hour)}
	return tok
}

// response is a CSC answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(key string) string { s, _ := r.body[key].(string); return s }

func (r response) strings(key string) []string {
	list, _ := r.body[key].([]any)
	var out []string
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// call posts body (JSON-encoded unless []byte) to a CSC method with token
// as the bearer token ("" for none).
func (f *fixture) call(t testing.TB, token, method string, body any) response {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	case nil:
		raw = []byte("{}")
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+csc.Prefix+method, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", method, err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	if out.raw, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.raw, &out.body); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", method, resp.StatusCode, out.raw)
	}
	return out
}

// wantError asserts a CSC error answer.
func (r response) wantError(t testing.TB, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code || r.str("error_description") == "" {
		t.Errorf("got %d %s, want %d %q with a description", r.status, r.raw, status, code)
	}
}

func (r response) wantOK(t testing.TB) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.status, r.raw)
	}
}

// authorize runs credentials/authorize for digests and returns the SAD
// and the signing request's ID (from approvalURI).
func (f *fixture) authorize(t testing.TB, res resident, hash crypto.Hash, digests ...[]byte) (sad, requestID string) {
	t.Helper()
	hashes := make([]string, len(digests))
	for i, d := range digests {
		hashes[i] = b64(d)
	}
	r := f.call(t, res.token, "credentials/authorize", map[string]any{
		"credentialID": res.cert.ID, "numSignatures": len(digests), "hashes": hashes,
		"hashAlgorithmOID": activation.HashOID(hash), "description": "Tax return 2026",
	})
	r.wantOK(t)
	u, err := url.Parse(r.str("approvalURI"))
	if err != nil || r.str("SAD") == "" {
		t.Fatalf("authorize answer %s", r.raw)
	}
	return r.str("SAD"), u.Query().Get("id")
}

// approve approves a request as the resident would on the approval page.
func (f *fixture) approve(t testing.TB, res resident, requestID string) {
	t.Helper()
	if _, err := f.act.Approve(context.Background(), requestID, res.id, json.RawMessage(`{"signature":"test-evidence"}`)); err != nil {
		t.Fatalf("Approve: %v", err)
	}
}

// approved is authorize followed by approve.
func (f *fixture) approved(t testing.TB, res resident, hash crypto.Hash, digests ...[]byte) string {
	t.Helper()
	sad, id := f.authorize(t, res, hash, digests...)
	f.approve(t, res, id)
	return sad
}

// count runs a COUNT query.
func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.d.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// signed counts a resident's signing records and signature_created events.
func (f *fixture) signed(t testing.TB, res resident) (records, events int) {
	t.Helper()
	return f.count(t, `SELECT COUNT(*) FROM signing_records WHERE resident_id = $1`, res.id),
		f.count(t, `SELECT COUNT(*) FROM account_activity WHERE resident_id = $1 AND kind = $2`, res.id, string(account.KindSignatureCreated))
}

// unchanged asserts that nothing was signed since before.
func (f *fixture) unchanged(t testing.TB, res resident, records, events int) {
	t.Helper()
	if r, e := f.signed(t, res); r != records || e != events {
		t.Errorf("signing records %d → %d, events %d → %d: something was signed", records, r, events, e)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

func sum(h crypto.Hash, data []byte) []byte {
	w := h.New()
	w.Write(data)
	return w.Sum(nil)
}

func sha(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// document is a one-page PDF saying text.
func document(t testing.TB, text string) []byte {
	t.Helper()
	b, err := pdftest.Document(pdftest.Options{Title: text})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handPDF is a minimal classic-xref PDF with extra trailer entries (for an
// /Encrypt dictionary).
func handPDF(trailer string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	start := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, start)
	return b.Bytes()
}

// contains reports whether s holds every one of subs.
func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
