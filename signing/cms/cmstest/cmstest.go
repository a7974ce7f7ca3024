// Package cmstest gives the tests of signing/cms, signing/tsa and their
// users a throw-away PKI (root and issuing CA) and a way to run the openssl
// command line as an independent validator. It is imported by tests only.
package cmstest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"eidp/internal/testenv"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a root CA and an issuing CA below it, both ECDSA P-256.
type PKI struct {
	Root, Intermediate *x509.Certificate
	RootKey, IntKey    crypto.Signer
	// Dir holds root.pem and intermediate.pem.
	Dir string
	// RootPEM and IntermediatePEM are the paths of those files.
	RootPEM, IntermediatePEM string
}

// Not-before and not-after of every certificate made here.
var (
	NotBefore = time.Now().Add(-time.Hour).Truncate(time.Second)
	NotAfter  = time.Now().Add(24 * time.Hour).Truncate(time.Second)
)

// NewPKI makes a root and an issuing CA and writes their PEM files.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{Dir: t.TempDir(), RootKey: NewKey(t, "P-256"), IntKey: NewKey(t, "P-256")}
	p.Root = create(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "eidp test root CA", Organization: []string{"eidp tests"}},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}, nil, p.RootKey.Public(), p.RootKey)
	p.Intermediate = create(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "eidp test issuing CA", Organization: []string{"eidp tests"}},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}, p.Root, p.IntKey.Public(), p.RootKey)
	p.RootPEM = WritePEM(t, p.Dir, "root.pem", p.Root)
	p.IntermediatePEM = WritePEM(t, p.Dir, "intermediate.pem", p.Intermediate)
	return p
}

// IssueSigner issues a document-signing certificate for pub from the issuing
// CA: keyUsage digitalSignature and contentCommitment (non-repudiation), as
// EN 319 412-2 §4.3.2 wants for a natural person's signing certificate.
func (p *PKI) IssueSigner(t testing.TB, pub crypto.PublicKey, name string) *x509.Certificate {
	t.Helper()
	return create(t, &x509.Certificate{
		Subject:  pkix.Name{CommonName: name, Country: []string{"HK"}},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}, p.Intermediate, pub, p.IntKey)
}

// OIDTimeStamping is id-kp-timeStamping (RFC 5280 §4.2.1.12).
var OIDTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}

// IssueTSA issues a time-stamping certificate for pub from the issuing CA:
// extendedKeyUsage id-kp-timeStamping only, critical when critical is true
// (RFC 3161 §2.3 requires it critical; false makes a bad certificate for tests).
func (p *PKI) IssueTSA(t testing.TB, pub crypto.PublicKey, name string, critical bool) *x509.Certificate {
	t.Helper()
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{OIDTimeStamping})
	if err != nil {
		t.Fatal(err)
	}
	return create(t, &x509.Certificate{
		Subject:  pkix.Name{CommonName: name, Country: []string{"HK"}},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		// crypto/x509 writes ExtKeyUsage non-critical: write the extension ourselves.
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: critical, Value: eku}},
	}, p.Intermediate, pub, p.IntKey)
}

// Issue issues a certificate from tmpl (serial and validity are filled in)
// by the issuing CA.
func (p *PKI) Issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	return create(t, tmpl, p.Intermediate, pub, p.IntKey)
}

// Pool returns a pool holding the root (for roots) or the issuing CA.
func Pool(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	tmpl.NotBefore, tmpl.NotAfter = NotBefore, NotAfter
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatalf("creating certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// NewKey makes an in-memory key: "P-256", "P-384" or "RSA-2048".
func NewKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "P-256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "P-384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "RSA-2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("cmstest: unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// WriteFile writes data to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// WritePEM writes certificates as PEM to dir/name and returns the path.
func WritePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var buf bytes.Buffer
	for _, c := range certs {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return WriteFile(t, dir, name, buf.Bytes())
}

// OpenSSL runs the openssl command line with args and returns its combined
// output and the error of a non-zero exit. Without openssl the test is
// skipped, or fails under CI=true.
func OpenSSL(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "openssl", "openssl"), args...).CombinedOutput()
	return string(out), err
}
