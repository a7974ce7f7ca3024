package verify_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"eidp/signing/cms"
	"eidp/signing/cms/cmstest"
	"eidp/signing/verify"
)

// doc is a signed document of one format, and how to verify it.
type doc struct {
	name   string
	level  string
	verify func(v *verify.Verifier) (verify.Report, error)
}

// documents signs one document per format and level with f's signer.
func documents(t *testing.T, f *fixture) []doc {
	ctx := context.Background()
	pdfDoc := func(ts bool) func(*verify.Verifier) (verify.Report, error) {
		b := f.pades(t, basePDF(t), ts)
		return func(v *verify.Verifier) (verify.Report, error) {
			return v.VerifyPDF(ctx, bytes.NewReader(b), int64(len(b)))
		}
	}
	content := []byte("minutes of the council meeting")
	detached := func(ts bool) func(*verify.Verifier) (verify.Report, error) {
		b := f.cades(t, content, true, ts)
		return func(v *verify.Verifier) (verify.Report, error) { return v.VerifyCMS(ctx, b, bytes.NewReader(content)) }
	}
	attached := f.cades(t, content, false, true)
	jws := func(ts bool) func(*verify.Verifier) (verify.Report, error) {
		b := f.jades(t, ts)
		return func(v *verify.Verifier) (verify.Report, error) { return v.VerifyJAdES(ctx, b, nil) }
	}
	return []doc{
		{"PAdES B-B", "B-B", pdfDoc(false)},
		{"PAdES B-T", "B-T", pdfDoc(true)},
		{"CAdES detached B-B", "B-B", detached(false)},
		{"CAdES detached B-T", "B-T", detached(true)},
		{"CAdES enveloping B-T", "B-T", func(v *verify.Verifier) (verify.Report, error) { return v.VerifyCMS(ctx, attached, nil) }},
		{"JAdES B-B", "B-B", jws(false)},
		{"JAdES B-T", "B-T", jws(true)},
	}
}

func run(t *testing.T, d doc, v *verify.Verifier) verify.Report {
	t.Helper()
	rep, err := d.verify(v)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(rep.Signatures) != 1 {
		t.Fatalf("%d signatures reported", len(rep.Signatures))
	}
	return rep
}

func want(t *testing.T, rep verify.Report, ind verify.Indication, sub verify.SubIndication) {
	t.Helper()
	if rep.Indication != ind || rep.SubIndication != sub {
		t.Fatalf("report %s/%s (%s), want %s/%s", rep.Indication, rep.SubIndication, rep.Reason, ind, sub)
	}
	for _, s := range rep.Signatures {
		if s.Indication == "" {
			t.Fatal("a signature without indication")
		}
	}
}

func TestValidSignaturesPass(t *testing.T) {
	f := newFixture(t)
	for _, d := range documents(t, f) {
		t.Run(d.name, func(t *testing.T) {
			rep := run(t, d, f.v)
			want(t, rep, verify.TotalPassed, "")
			s := rep.Signatures[0]
			if s.Level != d.level || s.SignerName != "Chan Tai Man" || s.CertificateStatus != "good" || s.Coverage != "whole document" {
				t.Errorf("signature report %+v", s)
			}
			if len(s.Chain) != 3 || !strings.Contains(s.Chain[0], "Chan Tai Man") || !strings.Contains(s.Chain[2], "root") {
				t.Errorf("chain %q", s.Chain)
			}
			if s.ClaimedSigningTime.IsZero() || time.Since(s.ClaimedSigningTime) > time.Hour {
				t.Errorf("claimed signing time %v", s.ClaimedSigningTime)
			}
			if (d.level == "B-T") != !s.TimestampTime.IsZero() {
				t.Errorf("time-stamp time %v at level %s", s.TimestampTime, d.level)
			}
			if len(s.Warnings) != 0 {
				t.Errorf("warnings %q", s.Warnings)
			}
		})
	}
}

func TestUntrustedRootIsIndeterminate(t *testing.T) {
	f := newFixture(t)
	other := cmstest.NewPKI(t)
	v := &verify.Verifier{Roots: cmstest.Pool(other.Root), Status: f.status}
	for _, d := range documents(t, f) {
		t.Run(d.name, func(t *testing.T) {
			rep := run(t, d, v)
			want(t, rep, verify.Indeterminate, verify.NoCertificateChainFound)
			if d.level == "B-T" && len(rep.Signatures[0].Warnings) == 0 {
				t.Error("the untrusted time-stamp is not mentioned")
			}
		})
	}
}

func TestUnknownStatusIsIndeterminate(t *testing.T) {
	f := newFixture(t)
	for name, src := range map[string]verify.StatusSource{
		"no status source": nil,
		"a source that does not know the certificate": verify.StatusFunc(func(context.Context, *x509.Certificate, *x509.Certificate) (verify.Status, error) {
			return verify.Status{}, nil
		}),
		"a source that fails": verify.StatusFunc(func(context.Context, *x509.Certificate, *x509.Certificate) (verify.Status, error) {
			return verify.Status{}, errors.New("responder down")
		}),
	} {
		t.Run(name, func(t *testing.T) {
			v := &verify.Verifier{Roots: f.v.Roots, Status: src}
			rep := run(t, documents(t, f)[6], v)
			want(t, rep, verify.Indeterminate, verify.TryLater)
			if rep.Signatures[0].CertificateStatus != "unknown" {
				t.Errorf("status %q", rep.Signatures[0].CertificateStatus)
			}
		})
	}
}

func TestRevocation(t *testing.T) {
	f := newFixture(t)
	docs := documents(t, f)
	now := time.Now()
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			// Revoked now, after the signature and its time-stamp.
			f.status.set(f.cert, verify.Status{Known: true, Revoked: true, RevokedAt: now.Add(time.Second), Reason: 1})
			v := &verify.Verifier{Roots: f.v.Roots, Status: f.status, Now: func() time.Time { return now.Add(time.Hour) }}
			rep := run(t, d, v)
			s := rep.Signatures[0]
			if d.level == "B-T" {
				// The time-stamp proves the signature existed before.
				want(t, rep, verify.TotalPassed, "")
				if len(s.Warnings) == 0 {
					t.Error("no warning about the later revocation")
				}
			} else {
				want(t, rep, verify.Indeterminate, verify.RevokedNoPOE)
			}
			if s.CertificateStatus != "revoked" || !s.RevokedAt.Equal(now.Add(time.Second)) {
				t.Errorf("status %q at %v", s.CertificateStatus, s.RevokedAt)
			}

			// Revoked before the claimed signing time: failed, time-stamp or not.
			f.status.set(f.cert, verify.Status{Known: true, Revoked: true, RevokedAt: now.Add(-2 * time.Minute)})
			want(t, run(t, d, v), verify.TotalFailed, verify.Revoked)

			// Revoked between the claimed signing time and the time-stamp:
			// nothing proves the signature came first.
			f.status.set(f.cert, verify.Status{Known: true, Revoked: true, RevokedAt: now.Add(-30 * time.Second)})
			want(t, run(t, d, v), verify.Indeterminate, verify.RevokedNoPOE)
			f.status.set(f.cert, verify.Status{Known: true})
		})
	}
}

func TestExpiredCertificate(t *testing.T) {
	f := newFixture(t)
	later := &verify.Verifier{Roots: f.v.Roots, Status: f.status, Now: func() time.Time { return cmstest.NotAfter.Add(48 * time.Hour) }}
	for _, d := range documents(t, f) {
		t.Run(d.name, func(t *testing.T) {
			rep := run(t, d, later)
			if d.level == "B-T" {
				want(t, rep, verify.TotalPassed, "")
			} else {
				want(t, rep, verify.Indeterminate, verify.OutOfBoundsNotRevoked)
			}
		})
	}
	earlier := &verify.Verifier{Roots: f.v.Roots, Status: f.status, Now: func() time.Time { return cmstest.NotBefore.Add(-time.Hour) }}
	want(t, run(t, documents(t, f)[5], earlier), verify.Indeterminate, verify.NotYetValid)
}

func TestTamperedSignaturesFail(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	content := []byte("minutes of the council meeting")

	t.Run("PAdES: a changed byte in the signed range", func(t *testing.T) {
		b := f.pades(t, basePDF(t), true)
		i := bytes.Index(b, []byte("parking permit"))
		if i < 0 {
			i = 20 // the text may be compressed: change the header comment instead
		}
		b[i] ^= 0x01
		rep, err := f.v.VerifyPDF(ctx, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		want(t, rep, verify.TotalFailed, verify.HashFailure)
	})
	t.Run("CAdES: other content", func(t *testing.T) {
		rep, err := f.v.VerifyCMS(ctx, f.cades(t, content, true, true), strings.NewReader("minutes of another meeting"))
		if err != nil {
			t.Fatal(err)
		}
		want(t, rep, verify.TotalFailed, verify.HashFailure)
	})
	t.Run("CAdES: a changed signature value", func(t *testing.T) {
		sd := f.cades(t, content, true, false)
		parsed, err := cms.Parse(sd)
		if err != nil {
			t.Fatal(err)
		}
		sv := parsed.Signers[0].Signature
		i := bytes.Index(sd, sv)
		sd[i+len(sv)-4] ^= 0x01 // inside s: still DER, no longer valid
		rep, err := f.v.VerifyCMS(ctx, sd, bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		want(t, rep, verify.TotalFailed, verify.SigCryptoFailure)
	})
	t.Run("CAdES: detached without its content", func(t *testing.T) {
		rep, err := f.v.VerifyCMS(ctx, f.cades(t, content, true, false), nil)
		if err != nil {
			t.Fatal(err)
		}
		want(t, rep, verify.Indeterminate, verify.SignedDataNotFound)
	})
	t.Run("JAdES: a changed payload", func(t *testing.T) {
		var m map[string]any
		json.Unmarshal(f.jades(t, true), &m)
		m["payload"] = base64.RawURLEncoding.EncodeToString([]byte(`{"form":"parking-permit","plate":"XY-999-ZZ"}`))
		b, _ := json.Marshal(m)
		rep, err := f.v.VerifyJAdES(ctx, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		want(t, rep, verify.TotalFailed, verify.SigCryptoFailure)
	})
	t.Run("JAdES: a malformed header", func(t *testing.T) {
		var m map[string]any
		json.Unmarshal(f.jades(t, false), &m)
		m["protected"] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","sigT":"yesterday"}`))
		b, _ := json.Marshal(m)
		rep, err := f.v.VerifyJAdES(ctx, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		want(t, rep, verify.TotalFailed, verify.FormatFailure)
	})
	t.Run("JAdES: a time-stamp over something else is not used", func(t *testing.T) {
		var m map[string]any
		b := f.jades(t, false)
		json.Unmarshal(b, &m)
		tok := f.tokenOver(t, []byte("not the signature"))
		element, _ := json.Marshal(map[string]any{"sigTst": map[string]any{"tstTokens": []any{map[string]any{"val": base64.StdEncoding.EncodeToString(tok)}}}})
		m["header"] = map[string]any{"etsiU": []string{base64.RawURLEncoding.EncodeToString(element)}}
		b, _ = json.Marshal(m)
		f.status.set(f.cert, verify.Status{Known: true, Revoked: true, RevokedAt: time.Now()})
		defer f.status.set(f.cert, verify.Status{Known: true})
		rep, err := f.v.VerifyJAdES(ctx, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		want(t, rep, verify.Indeterminate, verify.RevokedNoPOE)
		s := rep.Signatures[0]
		if !s.TimestampTime.IsZero() || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "time-stamp") {
			t.Errorf("time-stamp %v, warnings %q", s.TimestampTime, s.Warnings)
		}
	})
}

func TestPDFWithTwoSignatures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	key, cert, other := otherSigner(t)
	once := f.pades(t, basePDF(t), true)
	f.v.Roots.AddCert(other.Root)
	f.status.set(cert, verify.Status{Known: true})
	twice := padesWith(t, once, key, cert, []*x509.Certificate{other.Intermediate}, func(sd []byte) []byte { return sd })

	rep, err := f.v.VerifyPDF(ctx, bytes.NewReader(twice), int64(len(twice)))
	if err != nil {
		t.Fatal(err)
	}
	want(t, rep, verify.TotalPassed, "")
	if len(rep.Signatures) != 2 || rep.Signatures[0].Coverage != "revision 1 of 2" || rep.Signatures[1].Coverage != "whole document" ||
		rep.Signatures[0].SignerName != "Chan Tai Man" || rep.Signatures[1].SignerName != "Somebody Else" {
		t.Fatalf("signatures %+v", rep.Signatures)
	}

	// The second signer's certificate is revoked before it signed: the
	// document fails, though its first signature is still good.
	f.status.set(cert, verify.Status{Known: true, Revoked: true, RevokedAt: time.Now().Add(-time.Hour)})
	rep, err = f.v.VerifyPDF(ctx, bytes.NewReader(twice), int64(len(twice)))
	if err != nil {
		t.Fatal(err)
	}
	want(t, rep, verify.TotalFailed, verify.Revoked)
	if rep.Signatures[0].Indication != verify.TotalPassed || !strings.Contains(rep.Reason, "signature") {
		t.Errorf("first signature %s; reason %q", rep.Signatures[0].Indication, rep.Reason)
	}

	// An incremental update after the last signature leaves it valid, for
	// an earlier revision.
	appended := append(bytes.Clone(once), []byte("\n% an incremental update\n")...)
	rep, err = f.v.VerifyPDF(ctx, bytes.NewReader(appended), int64(len(appended)))
	if err != nil {
		t.Fatal(err)
	}
	want(t, rep, verify.TotalPassed, "")
	if rep.Signatures[0].Coverage != "revision 1 of 2" {
		t.Errorf("coverage %q", rep.Signatures[0].Coverage)
	}
}

func TestNotASignedDocument(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	unsigned := basePDF(t)
	if _, err := f.v.VerifyPDF(ctx, bytes.NewReader(unsigned), int64(len(unsigned))); !errors.Is(err, verify.ErrNoSignature) {
		t.Errorf("unsigned PDF: %v", err)
	}
	for name, b := range map[string][]byte{"text": []byte("hello"), "empty": nil, "JSON": []byte(`{"a":1}`)} {
		if _, err := f.v.VerifyPDF(ctx, bytes.NewReader(b), int64(len(b))); !errors.Is(err, verify.ErrFormat) {
			t.Errorf("PDF of %s: %v", name, err)
		}
		if _, err := f.v.VerifyCMS(ctx, b, nil); !errors.Is(err, verify.ErrFormat) {
			t.Errorf("CMS of %s: %v", name, err)
		}
		if _, err := f.v.VerifyJAdES(ctx, b, nil); !errors.Is(err, verify.ErrFormat) {
			t.Errorf("JAdES of %s: %v", name, err)
		}
	}
}

func TestSniff(t *testing.T) {
	f := newFixture(t)
	sd := f.cades(t, []byte("x"), true, false)
	jws := f.jades(t, false)
	var m map[string]string
	json.Unmarshal(jws, &m)
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"PDF", basePDF(t), "pdf"},
		{"CMS DER", sd, "cms"},
		{"CMS PEM", []byte("-----BEGIN PKCS7-----\n" + base64.StdEncoding.EncodeToString(sd) + "\n-----END PKCS7-----\n"), "cms"},
		{"JWS JSON", jws, "jades"},
		{"JWS compact", []byte(m["protected"] + "." + m["payload"] + "." + m["signature"]), "jades"},
		{"other JSON", []byte(`{"plate":"AB"}`), ""},
		{"a certificate", f.cert.Raw, ""},
		{"nothing", nil, ""},
	} {
		if got := verify.Sniff(tc.in); got != tc.want {
			t.Errorf("%s: Sniff = %q, want %q", tc.name, got, tc.want)
		}
	}
}
