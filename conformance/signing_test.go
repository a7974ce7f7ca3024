package conformance

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	bin "encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
	"golang.org/x/oauth2"
)

var (
	ngKinHung  = person{"K288895(5)", "1985-12-11", "NG Kin Hung", "NG Kin Hung"}
	chowHeiMan = person{"H639706(0)", "1976-01-12", "CHOW Hei Man", "CHOW Hei Man"}
)

const (
	sha256OID      = "2.16.840.1.101.3.4.2.1"
	ecdsaSHA256OID = "1.2.840.10045.4.3.2"
)

// TestRemoteSigning is issue 6's end-to-end proof. A department (x/oauth2
// + go-oidc for the OAuth part, plain HTTP for the CSC API) asks residents
// to sign; each approves on eidp's approval page with a passkey in Chromium;
// the results are checked with poppler's pdfsig (NSS trusting our root) and
// openssl (cms, ts, ocsp, verify -crl_check), never with our own verifier.
func TestRemoteSigning(t *testing.T) {
	needBrowser(t)
	tools := needTools(t, "pdfsig", "certutil", "openssl")
	srv := startServer(t, "sqlite:"+t.TempDir()+"/eidp.db")
	work := t.TempDir()

	tb := newTab(t, srv.URL)
	phone := tb.addAuthenticator()
	tb.register(ngKinHung)

	// Below assurance level high: no certificate.
	tb.navigate("/account/signing")
	if tb.text("#level-too-low") == "" || eval[bool](tb, `!!document.querySelector("#sign-enrol-button")`) {
		t.Fatal("a resident below assurance level high was offered a signing certificate")
	}
	runCLI(t, srv, "residents", "set-level", "--id-number", ngKinHung.IDNumber, "--level", "high")
	tb.enrolCertificate()

	dept := newRP(t, srv, "127.0.0.1", map[string]any{"client_name": "Lands Department", "scope": "openid service credential"})
	svc := dept.serviceToken(tb)

	// credentials/list with the chain: the department learns the credential
	// and the root, which must be the one the server publishes.
	_, list := cscCall(t, srv, svc, "credentials/list", map[string]any{"credentialInfo": true, "certificates": "chain", "certInfo": true, "authInfo": true})
	ids, _ := list["credentialIDs"].([]any)
	if len(ids) != 1 {
		t.Fatalf("credentials/list: %v", list)
	}
	credID := ids[0].(string)
	info := list["credentialInfos"].([]any)[0].(map[string]any)
	if info["auth"].(map[string]any)["mode"] != "oauth2code" || info["key"].(map[string]any)["status"] != "enabled" || info["SCAL"] != "2" {
		t.Fatalf("credential info: %v", info)
	}
	chain := certsOf(t, info["cert"].(map[string]any)["certificates"].([]any))
	if len(chain) != 3 || !strings.Contains(chain[0].Subject.CommonName, "NG") || chain[0].Subject.SerialNumber == "" ||
		strings.Contains(chain[0].Subject.SerialNumber, "288895") {
		t.Fatalf("certificate chain %v (subject %v)", len(chain), chain[0].Subject)
	}
	published := httpGet(t, srv.URL+"/pki/root.crt")
	if !bytes.Equal(published, chain[2].Raw) {
		t.Fatal("credentials/list's root differs from /pki/root.crt")
	}
	rootPEM := writePEM(t, work, "root.pem", chain[2])
	issuingPEM := writePEM(t, work, "issuing.pem", chain[1])
	residentPEM := writePEM(t, work, "resident.pem", chain[0])
	nss := nssTrusting(t, tools, work, rootPEM)

	// OAuth route (scope=credential + RFC 9396 authorization_details): two
	// documents approved at once.
	lease, annex := makePDF(t, "Lease of Lot 7, Tai Po", 1), makePDF(t, "Annex A: site plan", 3)
	docs := []doc{{"Land lease 2026", sha(lease)}, {"Lease annex A", sha(annex)}}
	credTok := dept.approveOAuth(tb, credID, docs)

	_, res := cscCall(t, srv, credTok, "signatures/signDoc", map[string]any{
		"credentialID": credID,
		"documents": []any{
			map[string]any{"document": b64(lease), "signature_format": "P", "conformance_level": "Ades-B-T", "signAlgo": ecdsaSHA256OID,
				"appearance": map[string]any{"page": 1, "rect": []float64{350, 40, 560, 110}}},
			map[string]any{"document": b64(annex), "signature_format": "P", "conformance_level": "Ades-B-LT", "signAlgo": ecdsaSHA256OID},
		},
	})
	signed := b64s(t, res["DocumentWithSignature"])
	if len(signed) != 2 {
		t.Fatalf("signDoc: %v", res)
	}
	leaseSigned, annexSigned := signed[0], signed[1]
	out := pdfsig(t, tools, nss, work, "lease-signed.pdf", leaseSigned)
	for _, want := range []string{"Signature is Valid", "Certificate is Trusted", "Total document signed", "ETSI.CAdES.detached", "Kin Hung NG"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pdfsig on the lease lacks %q:\n%s", want, out)
		}
	}
	out = pdfsig(t, tools, nss, work, "annex-signed.pdf", annexSigned)
	if !strings.Contains(out, "Signature is Valid") || !strings.Contains(out, "Certificate is Trusted") || !bytes.Contains(annexSigned, []byte("/DSS")) ||
		!bytes.Contains(annexSigned, []byte("/OCSPs")) || !bytes.Contains(annexSigned, []byte("/CRLs")) {
		t.Fatalf("PAdES-B-LT annex: pdfsig:\n%s\nDSS present: %v", out, bytes.Contains(annexSigned, []byte("/DSS")))
	}
	// eidp's own verifier agrees, and names the B-LT level.
	if rep := verifyReport(t, srv, annexSigned); rep["indication"] != "TOTAL_PASSED" || firstSignature(rep)["level"] != "B-LT" {
		t.Fatalf("POST /signing/verify on the B-LT annex: %v", rep)
	}
	tampered := bytes.Clone(leaseSigned)
	tampered[len(lease)/2] ^= 1
	if rep := verifyReport(t, srv, tampered); rep["indication"] != "TOTAL_FAILED" {
		t.Fatalf("POST /signing/verify on a tampered PDF: %v", rep)
	}
	// The activation data was for one use.
	if status, body := cscCall(t, srv, credTok, "signatures/signDoc", map[string]any{"credentialID": credID,
		"documents": []any{map[string]any{"document": b64(lease), "signature_format": "P", "conformance_level": "Ades-B-B", "signAlgo": ecdsaSHA256OID}}}); status != http.StatusBadRequest {
		t.Fatalf("a used credential token signed again: %d %v", status, body)
	}

	// A second signer on the signed lease keeps the first signature valid.
	tb2 := newTab(t, srv.URL)
	tb2.addAuthenticator()
	tb2.register(chowHeiMan)
	runCLI(t, srv, "residents", "set-level", "--id-number", chowHeiMan.IDNumber, "--level", "high")
	tb2.enrolCertificate()
	svc2 := dept.serviceToken(tb2)
	_, list2 := cscCall(t, srv, svc2, "credentials/list", map[string]any{})
	cred2 := list2["credentialIDs"].([]any)[0].(string)
	tok2 := dept.approveOAuth(tb2, cred2, []doc{{"Land lease 2026 (landlord)", sha(leaseSigned)}})
	_, res2 := cscCall(t, srv, tok2, "signatures/signDoc", map[string]any{"credentialID": cred2,
		"documents": []any{map[string]any{"document": b64(leaseSigned), "signature_format": "P", "conformance_level": "Ades-B-T", "signAlgo": ecdsaSHA256OID}}})
	twice := b64s(t, res2["DocumentWithSignature"])[0]
	out = pdfsig(t, tools, nss, work, "lease-twice.pdf", twice)
	if n := strings.Count(out, "Signature is Valid"); n != 2 || !strings.Contains(out, "Hei Man CHOW") || !strings.Contains(out, "Total document signed") {
		t.Fatalf("two signers: %d valid signatures:\n%s", n, out)
	}

	// Explicit route: credentials/authorize → approval on the phone (first
	// without user verification, refused) → signHash.
	data := []byte("Tenancy notice, 29 November 2026")
	digest := sha(data)
	_, auth := cscCall(t, srv, svc, "credentials/authorize", map[string]any{"credentialID": credID, "numSignatures": 1,
		"hashes": []string{b64(digest)}, "hashAlgorithmOID": sha256OID, "documentLabels": []string{"Tenancy notice"}})
	sad, _ := auth["SAD"].(string)
	approval, _ := auth["approvalURI"].(string)
	if sad == "" || !strings.HasPrefix(approval, srv.URL+"/sign?id=") || auth["verificationCode"] != verificationCode(digest) {
		t.Fatalf("credentials/authorize: %v", auth)
	}
	signHash := map[string]any{"credentialID": credID, "SAD": sad, "hashes": []string{b64(digest)}, "hashAlgorithmOID": sha256OID, "signAlgo": ecdsaSHA256OID}
	if status, body := cscCall(t, srv, svc, "signatures/signHash", signHash); status != http.StatusBadRequest || body["error"] != "authorization_pending" {
		t.Fatalf("signHash before approval: %d %v", status, body)
	}
	tb.visit(approval)
	tb.waitPath("/sign")
	if code := tb.text("#sign-code"); code != verificationCode(digest) {
		t.Fatalf("approval page code %q, want %q", code, verificationCode(digest))
	}
	phone.setBadUV(true)
	tb.click("#sign-approve-button")
	// The status line says "working" first; the refusal is the error.
	refusal := tb.waitFor("the refusal", `document.querySelector("#sign-status.error") && document.querySelector("#sign-status.error").textContent`)
	if !strings.Contains(refusal, "did not check that it is you") {
		t.Fatalf("the approval page's refusal says %q, not that the passkey did not verify the resident", refusal)
	}
	phone.setBadUV(false)
	if status, body := cscCall(t, srv, svc, "signatures/signHash", signHash); status != http.StatusBadRequest || body["error"] != "authorization_pending" {
		t.Fatalf("an assertion without user verification approved the request: %d %v", status, body)
	}
	tb.navigate(strings.TrimPrefix(approval, srv.URL))
	tb.click("#sign-approve-button")
	tb.waitPath("/account/signing")
	// A hash the resident did not approve: refused, and the SAD still good for the approved one.
	other := sha([]byte("something else"))
	if status, body := cscCall(t, srv, svc, "signatures/signHash", map[string]any{"credentialID": credID, "SAD": sad,
		"hashes": []string{b64(other)}, "hashAlgorithmOID": sha256OID, "signAlgo": ecdsaSHA256OID}); status != http.StatusBadRequest {
		t.Fatalf("signHash of an unapproved digest: %d %v", status, body)
	}
	if status, body := cscCall(t, srv, svc, "signatures/signHash", map[string]any{"credentialID": credID, "SAD": sad,
		"hashes": []string{b64(digest[:31])}, "hashAlgorithmOID": sha256OID, "signAlgo": ecdsaSHA256OID}); status != http.StatusBadRequest {
		t.Fatalf("signHash of a 31-byte digest: %d %v", status, body)
	}
	_, sh := cscCall(t, srv, svc, "signatures/signHash", signHash)
	sig := b64s(t, sh["signatures"])[0]
	if !ecdsa.VerifyASN1(chain[0].PublicKey.(*ecdsa.PublicKey), digest, sig) {
		t.Fatal("signHash's signature does not verify with the certificate's key")
	}
	if status, _ := cscCall(t, srv, svc, "signatures/signHash", signHash); status != http.StatusBadRequest {
		t.Fatalf("a SAD was used twice: %d", status)
	}

	// CAdES-B-T over the same notice (explicit route again), checked by openssl.
	_, auth = cscCall(t, srv, svc, "credentials/authorize", map[string]any{"credentialID": credID, "numSignatures": 1,
		"hashes": []string{b64(digest)}, "hashAlgorithmOID": sha256OID, "documentLabels": []string{"Tenancy notice (CAdES)"}})
	tb.visit(auth["approvalURI"].(string))
	tb.waitPath("/sign")
	tb.click("#sign-approve-button")
	tb.waitPath("/account/signing")
	_, cades := cscCall(t, srv, svc, "signatures/signDoc", map[string]any{"credentialID": credID, "SAD": auth["SAD"],
		"documentDigests": []any{map[string]any{"hashes": []string{b64(digest)}, "hashAlgorithmOID": sha256OID,
			"signature_format": "C", "conformance_level": "Ades-B-T", "signAlgo": ecdsaSHA256OID}}})
	p7s := b64s(t, cades["SignatureObject"])[0]
	dataFile, p7sFile := writeFile(t, work, "notice.txt", data), writeFile(t, work, "notice.p7s", p7s)
	caFile := writeFile(t, work, "cas.pem", append(readFile(t, rootPEM), readFile(t, issuingPEM)...))
	if out, err := openssl(tools, "cms", "-verify", "-binary", "-inform", "DER", "-in", p7sFile, "-content", dataFile, "-CAfile", caFile, "-purpose", "any", "-out", os.DevNull); err != nil ||
		!strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl cms -verify: %v\n%s", err, out)
	}
	if out, _ := openssl(tools, "cms", "-cmsout", "-print", "-inform", "DER", "-in", p7sFile); !strings.Contains(out, "id-smime-aa-timeStampToken") && !strings.Contains(out, "signatureTimeStampToken") {
		t.Fatalf("the CAdES-B-T signature has no signature time-stamp:\n%s", out)
	}

	// signatures/timestamp and the RFC 3161 endpoint, checked by openssl ts.
	_, ts := cscCall(t, srv, svc, "signatures/timestamp", map[string]any{"hash": b64(digest), "hashAlgorithmOID": sha256OID, "nonce": "0a1b2c3d"})
	tokenFile := writeFile(t, work, "token.der", b64s(t, []any{ts["timestamp"]})[0])
	if out, err := openssl(tools, "ts", "-verify", "-token_in", "-in", tokenFile, "-data", dataFile, "-CAfile", rootPEM, "-untrusted", issuingPEM); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify (CSC timestamp): %v\n%s", err, out)
	}
	query := filepath.Join(work, "req.tsq")
	if out, err := openssl(tools, "ts", "-query", "-data", dataFile, "-sha256", "-cert", "-out", query); err != nil {
		t.Fatalf("openssl ts -query: %v\n%s", err, out)
	}
	reply := writeFile(t, work, "reply.tsr", postBytes(t, srv.URL+"/tsa", "application/timestamp-query", readFile(t, query)))
	if out, err := openssl(tools, "ts", "-verify", "-in", reply, "-data", dataFile, "-CAfile", rootPEM, "-untrusted", issuingPEM); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify (/tsa): %v\n%s", err, out)
	}

	// Certificate status: OCSP good, then revoked from the account page; the CRL lists it.
	ocsp := func() string {
		out, err := openssl(tools, "ocsp", "-issuer", issuingPEM, "-cert", residentPEM, "-url", srv.URL+"/pki/ocsp", "-CAfile", caFile, "-resp_text")
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		return out
	}
	if out := ocsp(); !strings.Contains(out, residentPEM+": good") {
		t.Fatalf("OCSP before revocation:\n%s", out)
	}
	crlCheck := func() (string, error) {
		crl := writeFile(t, work, "residents.crl", httpGet(t, srv.URL+"/pki/residents.crl"))
		crlPEM := filepath.Join(work, "residents-crl.pem")
		if out, err := openssl(tools, "crl", "-inform", "DER", "-in", crl, "-out", crlPEM); err != nil {
			t.Fatalf("openssl crl: %v\n%s", err, out)
		}
		rootCRL := writeFile(t, work, "root.crl", httpGet(t, srv.URL+"/pki/root.crl"))
		rootCRLPEM := filepath.Join(work, "root-crl.pem")
		if out, err := openssl(tools, "crl", "-inform", "DER", "-in", rootCRL, "-out", rootCRLPEM); err != nil {
			t.Fatalf("openssl crl: %v\n%s", err, out)
		}
		both := writeFile(t, work, "crls.pem", append(readFile(t, crlPEM), readFile(t, rootCRLPEM)...))
		return openssl(tools, "verify", "-crl_check_all", "-CRLfile", both, "-CAfile", rootPEM, "-untrusted", issuingPEM, residentPEM)
	}
	if out, err := crlCheck(); err != nil {
		t.Fatalf("openssl verify -crl_check_all before revocation: %v\n%s", err, out)
	}
	tb.navigate("/account/signing")
	tb.click("#reason-lost")
	tb.click("#revoke-confirm-box")
	tb.clickAndLoad("#revoke-button")
	if out := ocsp(); !strings.Contains(out, residentPEM+": revoked") || !strings.Contains(out, "keyCompromise") {
		t.Fatalf("OCSP after revocation:\n%s", out)
	}
	if out, err := crlCheck(); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl verify -crl_check_all after revocation: %v\n%s", err, out)
	}
	// Signatures time-stamped before the revocation stay valid.
	if rep := verifyReport(t, srv, twice); rep["indication"] != "TOTAL_PASSED" || firstSignature(rep)["certificate_status"] != "revoked" {
		t.Fatalf("POST /signing/verify after the revocation: %v", rep)
	}
	// A revoked credential signs nothing and cannot be asked to.
	if status, body := cscCall(t, srv, svc, "credentials/authorize", map[string]any{"credentialID": credID, "numSignatures": 1,
		"hashes": []string{b64(digest)}, "hashAlgorithmOID": sha256OID}); status != http.StatusBadRequest {
		t.Fatalf("credentials/authorize with a revoked certificate: %d %v", status, body)
	}

	// Bad documents are refused before anything is signed.
	encrypted := bytes.Replace(makePDF(t, "secret", 1), []byte("trailer\n<<"), []byte("trailer\n<< /Encrypt 1 0 R"), 1)
	for name, pdf := range map[string][]byte{"malformed": []byte("%PDF-1.7\nnot really"), "encrypted": encrypted} {
		status, body := cscCall(t, srv, svc2, "signatures/signDoc", map[string]any{"credentialID": cred2, "SAD": "x",
			"documents": []any{map[string]any{"document": b64(pdf), "signature_format": "P", "signAlgo": ecdsaSHA256OID}}})
		if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["error_description"]), "PDF") {
			t.Errorf("signDoc with a %s PDF: %d %v", name, status, body)
		}
	}

	// The history and activity of the first resident name each signature.
	tb.navigate("/account/signing")
	if hist := tb.text("#history"); !strings.Contains(hist, "Lands Department") || !strings.Contains(hist, "Land lease 2026") || !strings.Contains(hist, "Tenancy notice") {
		t.Fatalf("signature history:\n%s", hist)
	}
}

// doc is a document to approve: its label and SHA-256 digest.
type doc struct {
	label  string
	digest []byte
}

// serviceToken logs the resident in for the department with scope service.
func (r *rp) serviceToken(tb *tab) string {
	tb.t.Helper()
	q, a := r.authorize(tb, nil, oauth2.SetAuthURLParam("scope", "openid service"))
	tok, _ := r.exchange(q, a)
	return tok.AccessToken
}

// approveOAuth runs the OAuth route: an authorization request with
// authorization_details of type credential, the approval page with the
// same verification code as the department computes, the passkey, the
// code exchange; it returns the credential-scoped access token.
func (r *rp) approveOAuth(tb *tab, credID string, docs []doc) string {
	tb.t.Helper()
	var digests []map[string]string
	var all []byte
	for _, d := range docs {
		digests = append(digests, map[string]string{"hash": b64(d.digest), "label": d.label})
		all = append(all, d.digest...)
	}
	details, _ := json.Marshal([]map[string]any{{"type": "credential", "credentialID": credID, "documentDigests": digests, "hashAlgorithmOID": sha256OID}})
	u, a := r.authURL(oauth2.SetAuthURLParam("scope", "openid credential"), oauth2.SetAuthURLParam("authorization_details", string(details)))
	tb.visit(u)
	tb.waitPath("/sign")
	page := tb.bodyText()
	for _, d := range docs {
		if !strings.Contains(page, d.label) {
			tb.fatalf("the approval page does not show %q:\n%s", d.label, page)
		}
	}
	if !strings.Contains(page, "Lands Department") || tb.text("#sign-code") != verificationCode(all) {
		tb.fatalf("the approval page should name the department and show code %s:\n%s", verificationCode(all), page)
	}
	tb.click("#sign-approve-button")
	tok, _ := r.exchange(r.callback(tb, a), a)
	if !strings.Contains(fmt.Sprint(tok.Extra("scope")), "credential") || tok.RefreshToken != "" {
		tb.fatalf("the token response's scope is %v (refresh token %q)", tok.Extra("scope"), tok.RefreshToken)
	}
	// RFC 9396 §7.1: the token response names what was approved.
	granted, _ := tok.Extra("authorization_details").([]any)
	if len(granted) != 1 {
		tb.fatalf("token response authorization_details: %v", tok.Extra("authorization_details"))
	}
	gd := granted[0].(map[string]any)
	if gd["type"] != "credential" || gd["credentialID"] != credID || len(gd["documentDigests"].([]any)) != len(docs) {
		tb.fatalf("token response authorization_details: %v", gd)
	}
	return tok.AccessToken
}

// enrolCertificate gets a signing certificate on the account's signing page.
func (tb *tab) enrolCertificate() {
	tb.t.Helper()
	tb.navigate("/account/signing")
	tb.click("#sign-enrol-button")
	tb.waitFor("the certificate", `document.querySelector("#certificate-status") && location.pathname === "/account/signing" && document.readyState === "complete" && "yes"`)
}

// verificationCode is the department's own computation of the code the
// approval page shows (signing/activation's documented formula).
func verificationCode(digests []byte) string {
	h := sha256.New()
	h.Write([]byte("eidp-verification-code-v1"))
	h.Write([]byte(sha256OID))
	h.Write(digests)
	n := bin.BigEndian.Uint64(h.Sum(nil)[:8]) % 1_000_000
	return fmt.Sprintf("%03d %03d", n/1000, n%1000)
}

// cscCall posts a CSC API method with a bearer token and decodes the answer.
func cscCall(t *testing.T, srv *server, token, method string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/csc/v2/"+method, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %d, not JSON: %v", method, resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func b64s(t *testing.T, v any) [][]byte {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list of base64 values: %v", v)
	}
	var out [][]byte
	for _, s := range list {
		b, err := base64.StdEncoding.DecodeString(s.(string))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func certsOf(t *testing.T, list []any) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, s := range list {
		der, err := base64.StdEncoding.DecodeString(s.(string))
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// makePDF draws a small document with fpdf (not our code).
func makePDF(t *testing.T, title string, pages int) []byte {
	t.Helper()
	f := fpdf.New("P", "pt", "A4", "")
	for i := 1; i <= pages; i++ {
		f.AddPage()
		f.SetFont("Helvetica", "", 14)
		f.Text(72, 100, fmt.Sprintf("%s — page %d of %d", title, i, pages))
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func needTools(t *testing.T, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			t.Fatalf("%s is missing (scripts/test installs poppler-utils, libnss3-tools and openssl)", n)
		}
		out[n] = p
	}
	return out
}

func runCLI(t *testing.T, srv *server, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = srv.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("eidp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func openssl(tools map[string]string, args ...string) (string, error) {
	out, err := exec.Command(tools["openssl"], args...).CombinedOutput()
	return string(out), err
}

// nssTrusting makes an NSS database that trusts root (for pdfsig).
func nssTrusting(t *testing.T, tools map[string]string, dir, rootPEM string) string {
	t.Helper()
	db := filepath.Join(dir, "nss")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-N", "-d", "sql:" + db, "--empty-password"}, {"-A", "-d", "sql:" + db, "-n", "eidp-root", "-t", "C,C,C", "-i", rootPEM}} {
		if out, err := exec.Command(tools["certutil"], args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return "sql:" + db
}

// pdfsig runs poppler's pdfsig on a PDF (online: it asks our OCSP
// responder, named in the certificate's AIA).
func pdfsig(t *testing.T, tools map[string]string, nss, dir, name string, pdf []byte) string {
	t.Helper()
	file := writeFile(t, dir, name, pdf)
	out, err := exec.Command(tools["pdfsig"], "-nssdir", nss, file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfsig %s: %v\n%s", name, err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePEM(t *testing.T, dir, name string, c *x509.Certificate) string {
	return writeFile(t, dir, name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

func postBytes(t *testing.T, u, contentType string, body []byte) []byte {
	t.Helper()
	resp, err := http.Post(u, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

// verifyReport posts a signed PDF to /signing/verify.
func verifyReport(t *testing.T, srv *server, pdf []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(postBytes(t, srv.URL+"/signing/verify", "application/pdf", pdf), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func firstSignature(rep map[string]any) map[string]any {
	sigs, _ := rep["signatures"].([]any)
	if len(sigs) == 0 {
		return map[string]any{}
	}
	m, _ := sigs[0].(map[string]any)
	return m
}
