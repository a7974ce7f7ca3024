package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"eidp/signing/pdf/pdftest"
	"math/big"
	"sync"
	"testing"
	"time"

	"eidp/signing/cms"
	"eidp/signing/cms/cmstest"
	"eidp/signing/jades"
	"eidp/signing/pdf"
	"eidp/signing/tsa"
	"eidp/signing/verify"
)

// fixture is a test PKI (root, issuing CA, a resident's signing
// certificate, a TSA) with a status source the test controls.
type fixture struct {
	pki    *cmstest.PKI
	signer crypto.Signer
	cert   *x509.Certificate
	tsa    *tsa.Authority
	status *statuses
	v      *verify.Verifier
}

var tsaPolicy = mustOID("1.3.6.1.4.1.99999.1")

func mustOID(s string) x509.OID {
	o, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pki := cmstest.NewPKI(t)
	signer := cmstest.NewKey(t, "P-256")
	cert := pki.IssueSigner(t, signer.Public(), "Chan Tai Man")
	tsaKey := cmstest.NewKey(t, "P-256")
	tsaCert := pki.IssueTSA(t, tsaKey.Public(), "eidp test TSA", true)
	a, err := tsa.New(tsaKey, tsaCert, []*x509.Certificate{pki.Intermediate}, tsaPolicy)
	if err != nil {
		t.Fatal(err)
	}
	st := &statuses{m: map[string]verify.Status{}}
	f := &fixture{pki: pki, signer: signer, cert: cert, tsa: a, status: st}
	st.set(cert, verify.Status{Known: true})
	f.v = &verify.Verifier{Roots: cmstest.Pool(pki.Root), Status: st}
	return f
}

// statuses is a StatusSource answering from a map by serial.
type statuses struct {
	mu sync.Mutex
	m  map[string]verify.Status
}

func (s *statuses) set(c *x509.Certificate, st verify.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[c.SerialNumber.String()] = st
}

func (s *statuses) Status(_ context.Context, cert, _ *x509.Certificate) (verify.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[cert.SerialNumber.String()], nil
}

func (f *fixture) stamp(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	return f.tsa.Stamp(ctx, h, digest, nil, true)
}

// tokenOver makes a time-stamp token over data.
func (f *fixture) tokenOver(t *testing.T, data []byte) []byte {
	t.Helper()
	d := sha256.Sum256(data)
	tok, err := f.stamp(context.Background(), crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var formPayload = []byte(`{"form":"parking-permit","plate":"AB-123-CD"}`)

func (f *fixture) jades(t *testing.T, timestamp bool) []byte {
	t.Helper()
	opts := jades.SignOptions{Certificate: f.cert, Chain: []*x509.Certificate{f.pki.Intermediate}, SigningTime: time.Now().Add(-time.Minute), ContentType: "json"}
	if timestamp {
		opts.Timestamp = f.stamp
	}
	jws, err := jades.Sign(context.Background(), f.signer, formPayload, opts)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// cades signs content; detached leaves it out of the signature.
func (f *fixture) cades(t *testing.T, content []byte, detached, timestamp bool) []byte {
	t.Helper()
	d := sha256.Sum256(content)
	opts := cms.SignOptions{Hash: crypto.SHA256, Certificate: f.cert, Chain: []*x509.Certificate{f.pki.Intermediate}, SigningTime: time.Now().Add(-time.Minute)}
	if !detached {
		opts.Content = content
	}
	sd, err := cms.SignDigest(context.Background(), f.signer, d[:], opts)
	if err != nil {
		t.Fatal(err)
	}
	if timestamp {
		sd = f.addTimestamp(t, sd)
	}
	return sd
}

func (f *fixture) addTimestamp(t *testing.T, sd []byte) []byte {
	t.Helper()
	sv, err := cms.SignatureValue(sd)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cms.AddSignatureTimestamp(sd, f.tokenOver(t, sv))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// basePDF is a one-page unsigned PDF.
func basePDF(t *testing.T) []byte {
	t.Helper()
	b, err := pdftest.Document(pdftest.Options{Title: "Application for a parking permit"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pades adds a PAdES signature to doc.
func (f *fixture) pades(t *testing.T, doc []byte, timestamp bool) []byte {
	t.Helper()
	return padesWith(t, doc, f.signer, f.cert, []*x509.Certificate{f.pki.Intermediate}, func(sd []byte) []byte {
		if timestamp {
			return f.addTimestamp(t, sd)
		}
		return sd
	})
}

func padesWith(t *testing.T, doc []byte, signer crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, finish func([]byte) []byte) []byte {
	t.Helper()
	d, err := pdf.Open(bytes.NewReader(doc), int64(len(doc)), pdf.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Prepare(pdf.SignOptions{Name: cert.Subject.CommonName, Reason: "I apply", SigningTime: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	digest, err := p.Digest(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.SignDigest(context.Background(), signer, digest, cms.SignOptions{Hash: crypto.SHA256, Certificate: cert, Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := p.WriteTo(&out, finish(sd)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// otherPKI signs with a certificate from a root the verifier does not trust.
func otherSigner(t *testing.T) (crypto.Signer, *x509.Certificate, *cmstest.PKI) {
	t.Helper()
	pki := cmstest.NewPKI(t)
	key := cmstest.NewKey(t, "P-256")
	return key, pki.IssueSigner(t, key.Public(), "Somebody Else"), pki
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return n
}
