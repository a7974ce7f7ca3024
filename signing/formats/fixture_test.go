package formats_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"eidp/signing/pdf/pdftest"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/hsm/testkeys"
	"eidp/internal/testenv"
	"eidp/signing/ca"
	"eidp/signing/formats"
	"eidp/signing/tsa"
)

// tsaPolicy is a policy OID for the test TSA (UUID arc, like eidp's).
const tsaPolicy = "2.25.301675463513418934196587113384290541822"

// env is a real CA (on SQLite and a key backend) served over HTTP, so that
// the AIA and CRL URLs in its certificates answer (pdfsig asks the OCSP
// responder), and a TSA built from the CA's time-stamping key.
type env struct {
	ca       *ca.Authority
	h        ca.Hierarchy
	tsa      *tsa.Authority
	tsaCert  *x509.Certificate
	tsaChain []*x509.Certificate
	dir      string
	rootPEM  string // the root only
	caPEM    string // the issuing CA
}

// eachBackend runs test with soft keys and with a SoftHSM2 token.
func eachBackend(t *testing.T, test func(t *testing.T, km hsm.KeyManager)) {
	t.Run("soft", func(t *testing.T) { test(t, testkeys.Soft(t)) })
	t.Run("softhsm2", func(t *testing.T) { test(t, testkeys.SoftHSM(t)) })
}

func newEnv(t testing.TB, km hsm.KeyManager) *env {
	t.Helper()
	ctx := context.Background()
	var handler http.Handler = http.NotFoundHandler()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// localhost, not 127.0.0.1: the URLs go into the certificates.
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	d := testenv.OpenDB(t, testenv.SQLite(t))
	ring := keyring.New(d, km)
	a, err := ca.New(d, ring, km, ca.Config{BaseURL: base})
	if err != nil {
		t.Fatalf("ca.New: %v", err)
	}
	h, err := a.Init(ctx)
	if err != nil {
		t.Fatalf("ca.Init: %v", err)
	}
	mu.Lock()
	handler = a.Handler()
	mu.Unlock()

	key, cert, chain, err := a.TSA(ctx)
	if err != nil {
		t.Fatalf("ca.TSA: %v", err)
	}
	policy, err := x509.ParseOID(tsaPolicy)
	if err != nil {
		t.Fatal(err)
	}
	stamper, err := tsa.New(key, cert, chain, policy)
	if err != nil {
		t.Fatalf("tsa.New: %v", err)
	}
	e := &env{ca: a, h: h, tsa: stamper, tsaCert: cert, tsaChain: chain, dir: t.TempDir()}
	e.rootPEM = writePEM(t, e.dir, "root.pem", h.Root)
	e.caPEM = writePEM(t, e.dir, "issuing.pem", h.Issuing)
	return e
}

// issue makes a resident certificate and returns the formats.Signer of it.
func (e *env) signer(t testing.TB, resident string) (formats.Signer, ca.Certificate) {
	t.Helper()
	ctx := context.Background()
	c, err := e.ca.Issue(ctx, ca.IssueRequest{ResidentID: resident, GivenName: "Tai Man", FamilyName: "Chan " + resident, Level: ca.LevelHigh})
	if err != nil {
		t.Fatalf("Issue(%s): %v", resident, err)
	}
	key, c2, err := e.ca.Signer(ctx, c.ID)
	if err != nil {
		t.Fatalf("Signer(%s): %v", c.ID, err)
	}
	return formats.Signer{
		Key: key, Cert: c2.Cert, Chain: c2.Chain, TSA: e.tsa,
		TSAChain: append([]*x509.Certificate{e.tsaCert}, e.tsaChain...),
		Revocation: func(ctx context.Context) (formats.Revocation, error) {
			resp, err := e.ca.OCSPResponse(ctx, c2.Cert)
			if err != nil {
				return formats.Revocation{}, err
			}
			crl, err := e.ca.CRL(ctx)
			if err != nil {
				return formats.Revocation{}, err
			}
			root, err := e.ca.RootCRL(ctx)
			if err != nil {
				return formats.Revocation{}, err
			}
			return formats.Revocation{OCSPs: [][]byte{resp}, CRLs: [][]byte{crl, root}}, nil
		},
	}, c2
}

func writePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return writeFile(t, dir, name, b.Bytes())
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs a command and returns its combined output and whether it exited 0.
func run(t testing.TB, name string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err == nil
}

// document is a classic-xref PDF made with fpdf: a page of text and about
// imageBytes of incompressible image data (to make large files).
func document(t testing.TB, imageBytes int) []byte {
	t.Helper()
	b, err := pdftest.Document(pdftest.Options{Title: "Application for a parking permit", ImageBytes: imageBytes, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pdfsig validates a PDF with poppler's pdfsig, trusting the env's root;
// the env serves the OCSP responder the certificates name.
func (e *env) pdfsig(t testing.TB, doc []byte) []pdftest.Result {
	t.Helper()
	return pdftest.Pdfsig(t, e.rootPEM, doc)
}
