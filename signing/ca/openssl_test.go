package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"eidp/hsm"
	"eidp/hsm/testkeys"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/ca"
)

// serve mounts the CA's handler at /pki/ on a mux, as the server does.
func serve(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/pki/", f.ca.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestOpenSSLAgrees checks the chain, the CRL and the OCSP responder with
// OpenSSL, before and after a revocation.
func TestOpenSSLAgrees(t *testing.T) {
	openssl := testenv.Tool(t, "openssl", "openssl")
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		checkWithOpenSSL(t, openssl, d, testkeys.Soft(t))
	})
}

// TestSoftHSM2 runs Init, Issue and a signature on SoftHSM2 through
// PKCS#11, and checks the result with OpenSSL.
func TestSoftHSM2(t *testing.T) {
	openssl := testenv.Tool(t, "openssl", "openssl")
	km := testkeys.SoftHSM(t)
	d := testenv.OpenDB(t, testenv.SQLite(t))
	checkWithOpenSSL(t, openssl, d, km)
}

func checkWithOpenSSL(t *testing.T, openssl string, d *db.DB, km hsm.KeyManager) {
	ctx := context.Background()
	f, h := initialised(t, d, km)
	c := f.issue(t, "r1")
	signAndVerify(t, f, c.ID)
	srv := serve(t, f)

	dir := t.TempDir()
	root := certPEM(t, dir, "root.pem", h.Root)
	issuing := certPEM(t, dir, "issuing.pem", h.Issuing)
	resident := certPEM(t, dir, "resident.pem", c.Cert)
	tsa := certPEM(t, dir, "tsa.pem", h.TSA)

	if out, ok := run(t, openssl, "verify", "-CAfile", root, "-untrusted", issuing, resident); !ok || !strings.Contains(out, "resident.pem: OK") {
		t.Fatalf("openssl verify:\n%s", out)
	}
	if out, ok := run(t, openssl, "verify", "-CAfile", root, "-untrusted", issuing, "-purpose", "timestampsign", tsa); !ok || !strings.Contains(out, "OK") {
		t.Fatalf("openssl verify of the TSA certificate:\n%s", out)
	}
	crlFile := func() string {
		// Fetched over HTTP, as a relying party would.
		resp, err := http.Get(srv.URL + "/pki/residents.crl")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		der, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/pkix-crl" {
			t.Fatalf("GET residents.crl: %d %s", resp.StatusCode, ct)
		}
		return writePEM(t, dir, "residents.crl.pem", "X509 CRL", der)
	}
	rootCRL, err := f.ca.RootCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rootCRLFile := writePEM(t, dir, "root.crl.pem", "X509 CRL", rootCRL)
	if out, ok := run(t, openssl, "verify", "-crl_check_all", "-CRLfile", crlFile(), "-CRLfile", rootCRLFile, "-CAfile", root, "-untrusted", issuing, resident); !ok || !strings.Contains(out, "resident.pem: OK") {
		t.Fatalf("openssl verify -crl_check_all before revocation:\n%s", out)
	}
	ocspArgs := []string{"ocsp", "-issuer", issuing, "-cert", resident, "-url", srv.URL + "/pki/ocsp", "-CAfile", root, "-resp_text"}
	out, ok := run(t, openssl, ocspArgs...)
	if !ok || !strings.Contains(out, "resident.pem: good") || !strings.Contains(out, "Response verify OK") ||
		!strings.Contains(out, "OCSP Nonce") || strings.Contains(out, "WARNING") {
		t.Fatalf("openssl ocsp before revocation:\n%s", out)
	}

	if err := f.ca.Revoke(ctx, c.ID, ca.ReasonKeyCompromise, "test"); err != nil {
		t.Fatal(err)
	}
	if out, ok := run(t, openssl, "verify", "-crl_check", "-CRLfile", crlFile(), "-CAfile", root, "-untrusted", issuing, resident); ok || !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl verify -crl_check after revocation:\n%s", out)
	}
	out, ok = run(t, openssl, ocspArgs...)
	if !ok || !strings.Contains(out, "resident.pem: revoked") || !strings.Contains(out, "Reason: keyCompromise") || !strings.Contains(out, "Response verify OK") {
		t.Fatalf("openssl ocsp after revocation:\n%s", out)
	}
}

// ocspRequest makes a DER OCSP request with OpenSSL (-reqout), for the
// GET tests.
func ocspRequest(t *testing.T, openssl, dir string, issuing, cert *x509.Certificate, nonce bool) []byte {
	t.Helper()
	args := []string{"ocsp", "-issuer", certPEM(t, dir, "i.pem", issuing), "-cert", certPEM(t, dir, "c.pem", cert), "-reqout", filepath.Join(dir, "req.der")}
	if !nonce {
		args = append(args, "-no_nonce")
	}
	if out, ok := run(t, openssl, args...); !ok {
		t.Fatalf("openssl ocsp -reqout:\n%s", out)
	}
	der, err := os.ReadFile(filepath.Join(dir, "req.der"))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestOCSPOverGETAndPOST(t *testing.T) {
	openssl := testenv.Tool(t, "openssl", "openssl")
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, h := initialised(t, d, testkeys.Soft(t))
		c := f.issue(t, "r1")
		srv := serve(t, f)
		dir := t.TempDir()

		get := func(der []byte, escape func(string) string) (*http.Response, []byte) {
			t.Helper()
			resp, err := http.Get(srv.URL + "/pki/ocsp/" + escape(base64.StdEncoding.EncodeToString(der)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, body
		}
		req := ocspRequest(t, openssl, dir, h.Issuing, c.Cert, false)
		httpResp, body := get(req, url.PathEscape)
		if httpResp.StatusCode != 200 || httpResp.Header.Get("Content-Type") != "application/ocsp-response" ||
			!regexp.MustCompile(`^public, max-age=3600, no-transform, must-revalidate$`).MatchString(httpResp.Header.Get("Cache-Control")) {
			t.Fatalf("GET: %d %v", httpResp.StatusCode, httpResp.Header)
		}
		resp, err := ocsp.ParseResponse(body, h.Issuing)
		if err != nil {
			t.Fatalf("ParseResponse: %v", err)
		}
		if resp.Status != ocsp.Good || resp.SerialNumber.Cmp(c.Serial) != 0 || !resp.Certificate.Equal(h.OCSP) ||
			resp.NextUpdate.Sub(resp.ThisUpdate) != time.Hour {
			t.Fatalf("GET response: status %d serial %x, thisUpdate %s nextUpdate %s", resp.Status, resp.SerialNumber, resp.ThisUpdate, resp.NextUpdate)
		}
		// "/" and "+" left unescaped (as some clients do) work too.
		if _, body := get(req, func(s string) string { return s }); !parsesAs(body, h.Issuing, ocsp.Good) {
			t.Fatal("GET with unescaped base64 failed")
		}
		if _, body := get(req, func(s string) string {
			return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(s), "=")
		}); !parsesAs(body, h.Issuing, ocsp.Good) {
			t.Fatal("GET with URL-safe base64 failed")
		}

		if err := f.ca.Revoke(ctx, c.ID, ca.ReasonAffiliationChanged, "test"); err != nil {
			t.Fatal(err)
		}
		_, body = get(req, url.PathEscape)
		resp, err = ocsp.ParseResponse(body, h.Issuing)
		if err != nil || resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.AffiliationChanged ||
			!resp.RevokedAt.Equal(f.clock.Now().Truncate(time.Second)) {
			t.Fatalf("after revocation: %+v %v", resp, err)
		}

		// POST, with a nonce: echoed in responseExtensions.
		reqNonce := ocspRequest(t, openssl, dir, h.Issuing, c.Cert, true)
		post := func(der []byte, contentType string) (*http.Response, []byte) {
			t.Helper()
			r, err := http.Post(srv.URL+"/pki/ocsp", contentType, bytes.NewReader(der))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			return r, b
		}
		_, body = post(reqNonce, "application/ocsp-request")
		resp, err = ocsp.ParseResponse(body, h.Issuing)
		if err != nil || resp.Status != ocsp.Revoked {
			t.Fatalf("POST: %+v %v", resp, err)
		}
		nonce := requestNonce(t, reqNonce)
		if !bytes.Contains(body, nonce) {
			t.Error("the response does not carry the request's nonce")
		}

		// Unknown serial of our issuer: unknown.
		other, _ := ocsp.CreateRequest(&x509.Certificate{SerialNumber: big.NewInt(1)}, h.Issuing, nil)
		_, body = post(other, "application/ocsp-request")
		if resp, err := ocsp.ParseResponse(body, h.Issuing); err != nil || resp.Status != ocsp.Unknown {
			t.Fatalf("unknown serial: %+v %v", resp, err)
		}
		// Another issuer (the root): unauthorized. Garbage: malformedRequest.
		byRoot, _ := ocsp.CreateRequest(h.Issuing, h.Root, nil)
		if _, body := post(byRoot, "application/ocsp-request"); !bytes.Equal(body, ocsp.UnauthorizedErrorResponse) {
			t.Errorf("request about the root's certificate: %x", body)
		}
		if _, body := post([]byte("garbage"), "application/ocsp-request"); !bytes.Equal(body, ocsp.MalformedRequestErrorResponse) {
			t.Errorf("garbage POST: %x", body)
		}
		if _, body := get([]byte("garbage"), url.PathEscape); !bytes.Equal(body, ocsp.MalformedRequestErrorResponse) {
			t.Errorf("garbage GET: %x", body)
		}
		if _, body := get(nil, func(string) string { return "!!!!" }); !bytes.Equal(body, ocsp.MalformedRequestErrorResponse) {
			t.Errorf("GET of something not base64: %x", body)
		}
		if r, _ := post(req, "text/plain"); r.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("POST text/plain: %d", r.StatusCode)
		}
		if r, _ := post(bytes.Repeat([]byte{0x30}, 20000), "application/ocsp-request"); r.StatusCode != 200 {
			t.Errorf("oversized POST: %d", r.StatusCode)
		}
	})
}

func TestPKIEndpoints(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, testkeys.Soft(t), ca.Config{})
		srv := serve(t, f)
		if r, err := http.Get(srv.URL + "/pki/root.crt"); err != nil || r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("before Init: %v %v", r, err)
		}
		h, err := f.ca.Init(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]string{
			"/pki/root.crt": "application/pkix-cert", "/pki/residents-ca.crt": "application/pkix-cert",
			"/pki/root.crl": "application/pkix-crl", "/pki/residents.crl": "application/pkix-crl",
		} {
			r, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != 200 || r.Header.Get("Content-Type") != want {
				t.Fatalf("%s: %d %s", path, r.StatusCode, r.Header.Get("Content-Type"))
			}
			switch path {
			case "/pki/root.crt":
				if !bytes.Equal(body, h.Root.Raw) {
					t.Error("root.crt is not the root certificate")
				}
			case "/pki/residents-ca.crt":
				if !bytes.Equal(body, h.Issuing.Raw) {
					t.Error("residents-ca.crt is not the issuing CA certificate")
				}
			case "/pki/root.crl":
				if crl, err := x509.ParseRevocationList(body); err != nil || crl.CheckSignatureFrom(h.Root) != nil {
					t.Errorf("root.crl: %v", err)
				}
			case "/pki/residents.crl":
				if crl, err := x509.ParseRevocationList(body); err != nil || crl.CheckSignatureFrom(h.Issuing) != nil {
					t.Errorf("residents.crl: %v", err)
				}
			}
		}
		if r, _ := http.Post(srv.URL+"/pki/root.crt", "text/plain", nil); r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST root.crt: %d", r.StatusCode)
		}
		if r, _ := http.Get(srv.URL + "/pki/nothing"); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET /pki/nothing: %d", r.StatusCode)
		}
	})
}

// requestNonce finds the nonce extension's extnValue in a DER request by
// its encoding (OID 1.3.6.1.5.5.7.48.1.2, then an OCTET STRING).
func requestNonce(t *testing.T, req []byte) []byte {
	t.Helper()
	oid := []byte{0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02}
	i := bytes.Index(req, oid)
	if i < 0 || len(req) < i+len(oid)+2 || req[i+len(oid)] != 0x04 {
		t.Fatalf("no nonce in the request %x", req)
	}
	rest := req[i+len(oid):]
	n := int(rest[1])
	if n < 8 || len(rest) < 2+n {
		t.Fatalf("short nonce in the request %x", req)
	}
	return rest[2 : 2+n]
}

func parsesAs(body []byte, issuer *x509.Certificate, status int) bool {
	resp, err := ocsp.ParseResponse(body, issuer)
	return err == nil && resp.Status == status
}

func TestOCSPResponseForValidationMaterial(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, h := initialised(t, d, testkeys.Soft(t))
		c := f.issue(t, "r1")
		der, err := f.ca.OCSPResponse(ctx, c.Cert)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ocsp.ParseResponseForCert(der, c.Cert, h.Issuing)
		if err != nil || resp.Status != ocsp.Good || !resp.Certificate.Equal(h.OCSP) || resp.IssuerHash != crypto.SHA1 {
			t.Fatalf("OCSPResponse: %+v %v", resp, err)
		}
		if err := f.ca.Revoke(ctx, c.ID, ca.ReasonKeyCompromise, "test"); err != nil {
			t.Fatal(err)
		}
		der, _ = f.ca.OCSPResponse(ctx, c.Cert)
		if resp, err := ocsp.ParseResponseForCert(der, c.Cert, h.Issuing); err != nil || resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.KeyCompromise {
			t.Fatalf("OCSPResponse after revocation: %+v %v", resp, err)
		}
		for _, other := range []*x509.Certificate{h.Issuing, h.Root, nil} {
			if _, err := f.ca.OCSPResponse(ctx, other); !errors.Is(err, ca.ErrNotFound) {
				t.Errorf("OCSPResponse for a certificate of another issuer: %v", err)
			}
		}
	})
}
