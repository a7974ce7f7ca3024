package cms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"eidp/signing/cms"
)

// fuzzSeeds returns real SignedData: detached, enveloping, B-T.
func fuzzSeeds(f *testing.F) [][]byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	raw, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(raw)
	ctx := context.Background()
	d := hashOf(crypto.SHA256, document)
	detached, err := cms.SignDigest(ctx, key, d, cms.SignOptions{Hash: crypto.SHA256, Certificate: cert, SigningTime: time.Now()})
	if err != nil {
		f.Fatal(err)
	}
	enveloping, _ := cms.SignDigest(ctx, key, d, cms.SignOptions{Hash: crypto.SHA256, Certificate: cert, Content: document})
	sig, _ := cms.SignatureValue(detached)
	tst := []byte{0x30, 0x39, 0x02, 0x01, 0x01, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09,
		0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x04, 0x20}
	tst = append(tst, hashOf(crypto.SHA256, sig)...)
	token, _ := cms.SignDigest(ctx, key, hashOf(crypto.SHA256, tst), cms.SignOptions{Hash: crypto.SHA256, Certificate: cert, ContentType: cms.OIDTSTInfo, Content: tst})
	bt, err := cms.AddSignatureTimestamp(detached, token)
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{detached, enveloping, token, bt}
}

func FuzzParse(f *testing.F) {
	seeds := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{0x30, 0x80, 0, 0})
	d := hashOf(crypto.SHA256, document)
	f.Fuzz(func(t *testing.T, der []byte) {
		sd, err := cms.Parse(der)
		if err != nil {
			if sd != nil {
				t.Fatal("Parse returned a value with an error")
			}
			return
		}
		if !bytes.Equal(sd.Raw, der) {
			t.Fatal("Raw differs from the input")
		}
		// Nothing that parses may make these panic.
		sd.Verify(d)
		sd.Verify(nil)
		sd.VerifyContent(document)
		if len(sd.Signers) > 0 {
			if out, err := cms.AddSignatureTimestamp(der, seeds[2]); err == nil {
				if _, err := cms.Parse(out); err != nil {
					t.Fatalf("AddSignatureTimestamp wrote what Parse refuses: %v", err)
				}
			}
		}
	})
}
