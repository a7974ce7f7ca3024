package formats_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/testkeys"
	"eidp/internal/testenv"
	"eidp/signing/cms"
	"eidp/signing/formats"
	"eidp/signing/jades"
	"eidp/signing/tsa"
)

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]formats.Level{
		"": formats.LevelB, "Ades-B-B": formats.LevelB, "AdES-B-B": formats.LevelB, "B-B": formats.LevelB,
		"Ades-B-T": formats.LevelT, "B-T": formats.LevelT, "Ades-T": formats.LevelT,
		"Ades-B-LT": formats.LevelLT, "B-LT": formats.LevelLT,
	} {
		got, err := formats.ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Ades-B-LTA", "B-LTA", "b-b", "PAdES-B-B", " B-B"} {
		if got, err := formats.ParseLevel(in); !errors.Is(err, formats.ErrUnsupported) {
			t.Errorf("ParseLevel(%q) = %q, %v; want ErrUnsupported", in, got, err)
		}
	}
}

// TestCAdES signs detached content at B-B and B-T with a resident key of a
// real CA (soft keys and SoftHSM2) and checks the result with openssl cms,
// our CMS parser and, for B-T, the time-stamp with openssl ts and tsa.
func TestCAdES(t *testing.T) {
	eachBackend(t, func(t *testing.T, km hsm.KeyManager) {
		e := newEnv(t, km)
		s, _ := e.signer(t, "resident-1")
		content := make([]byte, 10_000)
		rand.Read(content)
		dataPath := writeFile(t, e.dir, "data.bin", content)
		other := writeFile(t, e.dir, "other.bin", append([]byte("x"), content...))
		digest := sha256.Sum256(content)

		for _, level := range []formats.Level{formats.LevelB, formats.LevelT} {
			t.Run(string(level), func(t *testing.T) {
				before := time.Now().Add(-time.Second)
				sig, err := s.CAdES(context.Background(), digest[:], level)
				if err != nil {
					t.Fatalf("CAdES: %v", err)
				}
				sigPath := writeFile(t, e.dir, "sig-"+string(level)+".p7s", sig)
				verify := func(data string) (string, bool) {
					return opensslOut(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath, "-content", data,
						"-CAfile", e.rootPEM, "-purpose", "any", "-out", "/dev/null")
				}
				if out, ok := verify(dataPath); !ok || !strings.Contains(out, "Verification successful") {
					t.Errorf("openssl cms -verify: %s", out)
				}
				if out, ok := verify(other); ok {
					t.Errorf("openssl cms -verify accepted other content: %s", out)
				}

				sd, err := cms.Parse(sig)
				if err != nil {
					t.Fatalf("cms.Parse: %v", err)
				}
				if sd.Content != nil {
					t.Error("the signature is not detached")
				}
				if err := sd.Verify(digest[:]); err != nil {
					t.Errorf("cms Verify: %v", err)
				}
				si := sd.Signers[0]
				if !si.SigningCertV2 {
					t.Error("no signing-certificate-v2 naming the signer (CAdES B-B, EN 319 122-1 §5.2.2.3)")
				}
				if si.SigningTime.Before(before) || si.SigningTime.After(time.Now().Add(time.Second)) {
					t.Errorf("signing-time %v is not now", si.SigningTime)
				}
				if si.Certificate == nil || !si.Certificate.Equal(s.Cert) {
					t.Error("the signer's certificate is not embedded")
				}
				if !hasCert(sd.Certificates, s.Chain[0]) || hasCert(sd.Certificates, s.Chain[len(s.Chain)-1]) {
					t.Error("the embedded chain must hold the issuing CA and not the root")
				}
				switch level {
				case formats.LevelB:
					if si.Timestamp != nil {
						t.Error("a B-B signature carries a time-stamp")
					}
				case formats.LevelT:
					e.checkSignatureTimestamp(t, si)
				}
			})
		}
	})
}

// checkSignatureTimestamp checks the signature-time-stamp of a SignerInfo:
// over its signature value (EN 319 122-1 §5.3), by our TSA, with tsa and
// with openssl ts.
func (e *env) checkSignatureTimestamp(t *testing.T, si cms.SignerInfo) {
	t.Helper()
	if si.Timestamp == nil {
		t.Fatal("no signature-time-stamp")
	}
	tok, err := tsa.ParseToken(si.Timestamp)
	if err != nil {
		t.Fatalf("tsa.ParseToken: %v", err)
	}
	imprint := sha256.Sum256(si.Signature)
	if err := tok.Verify(crypto.SHA256, imprint[:], pool(e.h.Root), pool(e.h.Issuing)); err != nil {
		t.Errorf("token Verify: %v", err)
	}
	if !tok.Certificate.Equal(e.tsaCert) {
		t.Error("the token is not signed by the CA's TSA certificate")
	}
	if d := time.Since(tok.GenTime); d < -2*time.Second || d > time.Minute {
		t.Errorf("genTime %v is not now", tok.GenTime)
	}
	other := sha256.Sum256(append([]byte{0}, si.Signature...))
	if err := tok.Verify(crypto.SHA256, other[:], pool(e.h.Root), pool(e.h.Issuing)); !errors.Is(err, tsa.ErrVerify) {
		t.Errorf("token verified over another value: %v", err)
	}
	tokPath := writeFile(t, t.TempDir(), "token.der", si.Timestamp)
	valPath := writeFile(t, t.TempDir(), "value.bin", si.Signature)
	out, ok := opensslOut(t, "ts", "-verify", "-token_in", "-in", tokPath, "-data", valPath, "-CAfile", e.rootPEM, "-untrusted", e.caPEM)
	if !ok || !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify: %s", out)
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t, testkeys.Soft(t))
	s, _ := e.signer(t, "resident-1")
	ctx := context.Background()
	digest := sha256.Sum256([]byte("content"))
	if _, err := s.CAdES(ctx, digest[:], formats.LevelLT); !errors.Is(err, formats.ErrUnsupported) {
		t.Errorf("CAdES B-LT: %v", err)
	}
	if _, err := s.JAdES(ctx, []byte(`{}`), formats.LevelLT, false); !errors.Is(err, formats.ErrUnsupported) {
		t.Errorf("JAdES B-LT: %v", err)
	}
	// A Level not made by ParseLevel is refused, not signed at some level.
	bogus := formats.Level("B-LTA")
	if _, err := s.CAdES(ctx, digest[:], bogus); !errors.Is(err, formats.ErrUnsupported) {
		t.Errorf("CAdES %s: %v", bogus, err)
	}
	if _, err := s.JAdES(ctx, []byte(`{}`), bogus, false); !errors.Is(err, formats.ErrUnsupported) {
		t.Errorf("JAdES %s: %v", bogus, err)
	}
	var w bytes.Buffer
	if _, err := s.PAdES(ctx, bytes.NewReader(document(t, 0)), int64(len(document(t, 0))), &w, bogus, formats.PDFOptions{}); !errors.Is(err, formats.ErrUnsupported) || w.Len() != 0 {
		t.Errorf("PAdES %s: %v", bogus, err)
	}
	noTSA := s
	noTSA.TSA = nil
	if _, err := noTSA.CAdES(ctx, digest[:], formats.LevelT); !errors.Is(err, formats.ErrNoTSA) {
		t.Errorf("CAdES B-T without TSA: %v", err)
	}
	if _, err := noTSA.JAdES(ctx, []byte(`{}`), formats.LevelT, false); !errors.Is(err, formats.ErrNoTSA) {
		t.Errorf("JAdES B-T without TSA: %v", err)
	}
	doc := document(t, 0)
	for _, level := range []formats.Level{formats.LevelT, formats.LevelLT} {
		var out bytes.Buffer
		if _, err := noTSA.PAdES(ctx, bytes.NewReader(doc), int64(len(doc)), &out, level, formats.PDFOptions{}); !errors.Is(err, formats.ErrNoTSA) || out.Len() != 0 {
			t.Errorf("PAdES %s without TSA: %v, wrote %d bytes", level, err, out.Len())
		}
	}
	// A digest of the wrong length is refused by the CMS builder.
	if _, err := s.CAdES(ctx, digest[:20], formats.LevelB); err == nil {
		t.Error("CAdES signed a 20-byte SHA-256 digest")
	}
	// Not a PDF.
	var out bytes.Buffer
	junk := []byte("%PDF-1.7\nnot really\n")
	if _, err := s.PAdES(ctx, bytes.NewReader(junk), int64(len(junk)), &out, formats.LevelB, formats.PDFOptions{}); err == nil || out.Len() != 0 {
		t.Errorf("PAdES of junk: %v, wrote %d bytes", err, out.Len())
	}
}

// TestJAdES signs a JSON document, attached and detached, at B-B and B-T.
func TestJAdES(t *testing.T) {
	eachBackend(t, func(t *testing.T, km hsm.KeyManager) {
		e := newEnv(t, km)
		s, _ := e.signer(t, "resident-1")
		payload := []byte(`{"form":"parking-permit","plate":"AB-123-CD"}`)
		for _, level := range []formats.Level{formats.LevelB, formats.LevelT} {
			for _, detached := range []bool{false, true} {
				name := string(level)
				if detached {
					name += "/detached"
				}
				t.Run(name, func(t *testing.T) {
					jws, err := s.JAdES(context.Background(), payload, level, detached)
					if err != nil {
						t.Fatalf("JAdES: %v", err)
					}
					var given []byte
					if detached {
						given = payload
					}
					sig, err := jades.Parse(jws, given)
					if err != nil {
						t.Fatalf("jades.Parse: %v", err)
					}
					if err := sig.Verify(); err != nil {
						t.Errorf("Verify: %v", err)
					}
					if sig.Detached != detached || !bytes.Equal(sig.Payload, payload) {
						t.Errorf("detached %v, payload %q", sig.Detached, sig.Payload)
					}
					if !sig.Certificate.Equal(s.Cert) || len(sig.Chain) != 1 || !sig.Chain[0].Equal(s.Chain[0]) {
						t.Error("x5c is not the signer's certificate and the issuing CA")
					}
					if sig.Algorithm != "ES256" || sig.Level() != string(level) {
						t.Errorf("alg %s, level %s", sig.Algorithm, sig.Level())
					}
					if level == formats.LevelT {
						tok, err := tsa.ParseToken(sig.Timestamp)
						if err != nil {
							t.Fatalf("sigTst token: %v", err)
						}
						imprint := sha256.Sum256(sig.TimestampedData())
						if err := tok.Verify(crypto.SHA256, imprint[:], pool(e.h.Root), pool(e.h.Issuing)); err != nil {
							t.Errorf("sigTst token Verify: %v", err)
						}
					}
					// Tampering with the payload breaks it.
					if detached {
						bad, err := jades.Parse(jws, []byte(`{"form":"parking-permit","plate":"ZZ-999-ZZ"}`))
						if err == nil && bad.Verify() == nil {
							t.Error("a detached signature verified over another payload")
						}
					}
				})
			}
		}
	})
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func hasCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// opensslOut runs openssl (required under CI=true).
func opensslOut(t testing.TB, args ...string) (string, bool) {
	t.Helper()
	return run(t, testenv.Tool(t, "openssl", "openssl"), args...)
}
