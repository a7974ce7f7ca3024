package tsa_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"eidp/signing/tsa"
)

// fuzzAuthority is an Authority on a self-issued TSA certificate.
func fuzzAuthority(f *testing.F) *tsa.Authority {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{tsa.OIDTimeStamping})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	raw, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(raw)
	a, err := tsa.New(key, cert, nil, policy, tsa.WithAccuracy(1500*time.Microsecond))
	if err != nil {
		f.Fatal(err)
	}
	return a
}

func FuzzRespond(f *testing.F) {
	a := fuzzAuthority(f)
	for _, certReq := range []bool{true, false} {
		req, _ := tsa.NewRequest(crypto.SHA256, sha(crypto.SHA256, data), big.NewInt(12345), certReq)
		f.Add(req)
	}
	req, _ := tsa.Request{Hash: crypto.SHA512, Digest: sha(crypto.SHA512, data), Policy: policy}.Marshal()
	f.Add(req)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, err := a.Respond(context.Background(), req)
		if err != nil {
			t.Fatalf("Respond failed on client input: %v", err)
		}
		token, err := tsa.ParseResponse(resp)
		if err != nil {
			if !errors.Is(err, tsa.ErrRejected) {
				t.Fatalf("Respond wrote a response ParseResponse refuses: %v", err)
			}
			return
		}
		parsed, err := tsa.ParseRequest(req)
		if err != nil {
			t.Fatalf("granted a request ParseRequest refuses: %v", err)
		}
		tok, err := tsa.ParseToken(token)
		if err != nil {
			t.Fatalf("granted a token ParseToken refuses: %v", err)
		}
		if tok.Hash != parsed.Hash || string(tok.HashedMessage) != string(parsed.Digest) ||
			(parsed.Nonce == nil) != (tok.Nonce == nil) || (parsed.Nonce != nil && parsed.Nonce.Cmp(tok.Nonce) != 0) {
			t.Fatalf("token does not echo the request: %+v", tok)
		}
		if (tok.Certificate != nil) != parsed.CertReq {
			t.Fatalf("certReq %v, certificate embedded %v", parsed.CertReq, tok.Certificate != nil)
		}
		if err := tok.SignedData.Verify(nil); parsed.CertReq && err != nil {
			t.Fatalf("granted token does not verify: %v", err)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	a := fuzzAuthority(f)
	for _, certReq := range []bool{true, false} {
		token, err := a.Stamp(context.Background(), crypto.SHA384, sha(crypto.SHA384, data), big.NewInt(-5), certReq)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(token)
	}
	f.Fuzz(func(t *testing.T, token []byte) {
		tok, err := tsa.ParseToken(token)
		if err != nil {
			return
		}
		tok.Verify(tok.Hash, tok.HashedMessage, x509.NewCertPool(), nil) // must not panic
		tsa.ParseResponse(token)
	})
}
