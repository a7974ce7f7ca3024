package jades_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/testkeys"
)

// testCA is a root that issues end-entity certificates for test keys.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

var serial int64 = 100

// issue certifies pub for a signer named name.
func (ca *testCA) issue(t testing.TB, name string, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// keyCase is a signing key with the JWS algorithm Sign must pick for it.
type keyCase struct {
	name    string
	signer  crypto.Signer
	alg     string
	options string // SignOptions.Algorithm
}

func inProcessKeys(t testing.TB) []keyCase {
	t.Helper()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return []keyCase{
		{"ECDSA P-256", p256, "ES256", ""},
		{"ECDSA P-384", p384, "ES384", ""},
		{"ECDSA P-521", p521, "ES512", ""},
		{"RSA-2048 default", rsaKey, "PS256", ""},
		{"RSA-2048 RS256", rsaKey, "RS256", "RS256"},
	}
}

// backendKeys makes a P-256 and an RSA-2048 key on both key backends:
// hsm/soft and SoftHSM2 through hsm/pkcs11, whose signers return DER that
// Sign must convert.
func backendKeys(t testing.TB) []keyCase {
	t.Helper()
	ctx := context.Background()
	softKM, hsmKM := testkeys.Soft(t), testkeys.SoftHSM(t)
	var out []keyCase
	for _, b := range []struct {
		name string
		km   hsm.KeyManager
	}{{"soft", softKM}, {"softhsm2", hsmKM}} {
		for _, k := range []struct {
			alg hsm.Algorithm
			jws string
		}{{hsm.ECP256, "ES256"}, {hsm.RSA2048, "PS256"}} {
			info, err := b.km.CreateKey(ctx, "jades-test-"+string(k.alg), k.alg)
			if err != nil {
				t.Fatalf("%s CreateKey: %v", b.name, err)
			}
			s, err := b.km.Signer(ctx, info.URI)
			if err != nil {
				t.Fatalf("%s Signer: %v", b.name, err)
			}
			out = append(out, keyCase{b.name + " " + string(k.alg), s, k.jws, ""})
		}
	}
	return out
}
