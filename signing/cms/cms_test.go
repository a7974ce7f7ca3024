package cms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"eidp/signing/cms"
	"eidp/signing/cms/cmstest"
)

var document = []byte("%PDF-1.7 not really, but a document to sign\n")

func hashOf(h crypto.Hash, data []byte) []byte {
	w := h.New()
	w.Write(data)
	return w.Sum(nil)
}

// signer is a key and its certificate from the test PKI.
type signer struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func newSigner(t *testing.T, pki *cmstest.PKI, kind string) signer {
	t.Helper()
	key := cmstest.NewKey(t, kind)
	return signer{key, pki.IssueSigner(t, key.Public(), "Chan Tai Man ("+kind+")")}
}

// opensslVerify runs openssl cms -verify on a detached signature; extra
// arguments come before the file arguments.
func opensslVerify(t *testing.T, pki *cmstest.PKI, sig, content []byte, extra ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"cms", "-verify", "-binary", "-inform", "DER",
		"-in", cmstest.WriteFile(t, dir, "sig.p7s", sig),
		"-content", cmstest.WriteFile(t, dir, "data", content),
		"-CAfile", pki.RootPEM, "-purpose", "any", "-out", dir + "/out"}, extra...)
	return cmstest.OpenSSL(t, args...)
}

func TestSignDigestVerifiedByOpenSSL(t *testing.T) {
	pki := cmstest.NewPKI(t)
	ctx := context.Background()
	signingTime := time.Date(2026, 3, 1, 9, 30, 15, 0, time.UTC)
	bundle := cmstest.WritePEM(t, t.TempDir(), "bundle.pem", pki.Root, pki.Intermediate)
	tests := []struct {
		key  string
		hash crypto.Hash
		pss  bool
		want x509.SignatureAlgorithm
	}{
		{"P-256", crypto.SHA256, false, x509.ECDSAWithSHA256},
		{"P-256", crypto.SHA512, false, x509.ECDSAWithSHA512},
		{"P-384", crypto.SHA384, false, x509.ECDSAWithSHA384},
		{"RSA-2048", crypto.SHA256, false, x509.SHA256WithRSA},
		{"RSA-2048", crypto.SHA384, true, x509.SHA384WithRSAPSS},
		{"RSA-2048", crypto.SHA512, false, x509.SHA512WithRSA},
	}
	for _, tc := range tests {
		t.Run(tc.key+" "+tc.hash.String()+map[bool]string{true: " PSS"}[tc.pss], func(t *testing.T) {
			s := newSigner(t, pki, tc.key)
			for _, embed := range []bool{true, false} {
				opts := cms.SignOptions{Hash: tc.hash, Certificate: s.cert, SigningTime: signingTime, PSS: tc.pss}
				if embed {
					opts.Chain = []*x509.Certificate{pki.Intermediate}
				}
				der, err := cms.SignDigest(ctx, s.key, hashOf(tc.hash, document), opts)
				if err != nil {
					t.Fatal(err)
				}

				if embed {
					out, err := opensslVerify(t, pki, der, document)
					if err != nil || !strings.Contains(out, "Verification successful") {
						t.Fatalf("openssl with the issuing CA embedded: %v\n%s", err, out)
					}
				} else {
					// openssl cms takes untrusted certificates only from the
					// message: give the issuing CA in the store beside the root.
					out, err := opensslVerify(t, pki, der, document, "-CAfile", bundle)
					if err != nil || !strings.Contains(out, "Verification successful") {
						t.Fatalf("openssl with the issuing CA in the store: %v\n%s", err, out)
					}
					// Without the issuing CA anywhere there is no chain: openssl must fail.
					if out, err := opensslVerify(t, pki, der, document); err == nil {
						t.Fatalf("openssl verified without the issuing CA:\n%s", out)
					}
				}
				altered := append(bytes.Clone(document), '!')
				if out, err := opensslVerify(t, pki, der, altered, "-CAfile", bundle); err == nil || strings.Contains(out, "Verification successful") {
					t.Fatalf("openssl verified altered content:\n%s", out)
				}

				sd, err := cms.Parse(der)
				if err != nil {
					t.Fatal(err)
				}
				if err := sd.Verify(hashOf(tc.hash, document)); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if err := sd.VerifyContent(document); err != nil {
					t.Fatalf("VerifyContent: %v", err)
				}
				wantCerts := 1
				if embed {
					wantCerts = 2
				}
				si := sd.Signers[0]
				switch {
				case !sd.ContentType.Equal(cms.OIDData) || sd.Content != nil || sd.Version != 1:
					t.Errorf("content type %s, content %v, version %d", sd.ContentType, sd.Content, sd.Version)
				case len(sd.Certificates) != wantCerts || len(sd.Signers) != 1:
					t.Errorf("%d certificates, %d signers", len(sd.Certificates), len(sd.Signers))
				case si.Certificate == nil || !si.Certificate.Equal(s.cert):
					t.Errorf("signer certificate not found")
				case si.DigestAlgorithm != tc.hash || si.SignatureAlgorithm != tc.want:
					t.Errorf("algorithms %v %v", si.DigestAlgorithm, si.SignatureAlgorithm)
				case !si.SigningTime.Equal(signingTime) || !si.SigningCertV2 || si.Timestamp != nil:
					t.Errorf("signing time %v, signing-certificate-v2 %v, timestamp %x", si.SigningTime, si.SigningCertV2, si.Timestamp)
				case !bytes.Equal(si.MessageDigest, hashOf(tc.hash, document)) || !si.ContentType.Equal(cms.OIDData):
					t.Errorf("message digest %x, content type %s", si.MessageDigest, si.ContentType)
				case !bytes.Equal(sd.Raw, der):
					t.Errorf("Raw is not the input")
				}
				if got, err := cms.SignatureValue(der); err != nil || !bytes.Equal(got, si.Signature) {
					t.Errorf("SignatureValue: %x, %v", got, err)
				}
			}
		})
	}
}

func TestOpenSSLPrintsTheSignedAttributes(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "P-256")
	print := func(opts cms.SignOptions) string {
		t.Helper()
		opts.Certificate = s.cert
		der, err := cms.SignDigest(context.Background(), s.key, hashOf(opts.Hash, document), opts)
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmstest.OpenSSL(t, "cms", "-cmsout", "-print", "-inform", "DER",
			"-in", cmstest.WriteFile(t, t.TempDir(), "sig.p7s", der))
		if err != nil {
			t.Fatalf("openssl cms -cmsout -print: %v\n%s", err, out)
		}
		return out
	}
	t.Run("CAdES B-B: signing-certificate-v2 and signing-time", func(t *testing.T) {
		out := print(cms.SignOptions{Hash: crypto.SHA256, SigningTime: time.Now()})
		for _, want := range []string{"signingCertificateV2", "signingTime", "contentType", "messageDigest", "ecdsa-with-SHA256", "eContent: <ABSENT>"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in\n%s", want, out)
			}
		}
	})
	t.Run("PAdES B-B: no signing-time", func(t *testing.T) {
		out := print(cms.SignOptions{Hash: crypto.SHA384})
		if !strings.Contains(out, "signingCertificateV2") || strings.Contains(out, "signingTime") {
			t.Errorf("want signingCertificateV2 and no signingTime in\n%s", out)
		}
	})
}

func TestEncapsulatedContent(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "P-256")
	der, err := cms.SignDigest(context.Background(), s.key, hashOf(crypto.SHA256, document), cms.SignOptions{
		Hash: crypto.SHA256, Certificate: s.cert, Chain: []*x509.Certificate{pki.Intermediate},
		Content: document, SigningTime: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sd.Content, document) {
		t.Fatalf("content %q", sd.Content)
	}
	if err := sd.Verify(nil); err != nil {
		t.Fatalf("Verify(nil) of encapsulated content: %v", err)
	}
	if err := sd.Verify(hashOf(crypto.SHA256, []byte("another document"))); !errors.Is(err, cms.ErrInvalidSignature) {
		t.Fatalf("Verify with a digest of other content: %v", err)
	}
	dir := t.TempDir()
	out, err := cmstest.OpenSSL(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", cmstest.WriteFile(t, dir, "sig.p7s", der),
		"-CAfile", pki.RootPEM, "-purpose", "any")
	if err != nil || !strings.Contains(out, string(document)) || !strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
}

// tamper returns a copy of der with the first occurrence of old replaced.
func tamper(t *testing.T, der, old, new []byte) []byte {
	t.Helper()
	i := bytes.Index(der, old)
	if i < 0 || len(old) != len(new) {
		t.Fatalf("cannot find %x to replace", old)
	}
	out := bytes.Clone(der)
	copy(out[i:], new)
	return out
}

func TestVerifyRejectsTampering(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "P-256")
	other := newSigner(t, pki, "P-256")
	signingTime := time.Date(2026, 3, 1, 9, 30, 15, 0, time.UTC)
	d := hashOf(crypto.SHA256, document)
	der, err := cms.SignDigest(context.Background(), s.key, d, cms.SignOptions{Hash: crypto.SHA256, Certificate: s.cert, SigningTime: signingTime})
	if err != nil {
		t.Fatal(err)
	}
	good, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	sig := good.Signers[0].Signature
	flipped := bytes.Clone(sig)
	flipped[len(flipped)-1] ^= 1
	essHash := hashOf(crypto.SHA256, s.cert.Raw)

	tests := []struct {
		name   string
		der    []byte
		digest []byte
	}{
		{"another document's digest", der, hashOf(crypto.SHA256, []byte("another"))},
		{"a digest of the wrong length", der, d[:20]},
		{"no digest for a detached signature", der, nil},
		{"a changed signing time", tamper(t, der, []byte("260301093015Z"), []byte("260301093016Z")), d},
		{"a changed message-digest attribute", tamper(t, der, d, hashOf(crypto.SHA256, []byte("x"))), d},
		{"a changed signature value", tamper(t, der, sig, flipped), d},
		{"a signing-certificate-v2 naming another certificate", tamper(t, der, essHash, hashOf(crypto.SHA256, other.cert.Raw)), d},
		{"an altered embedded certificate (signing-certificate-v2 no longer matches)", tamper(t, der, s.cert.Raw[len(s.cert.Raw)-8:], other.cert.Raw[len(other.cert.Raw)-8:]), d},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := cms.Parse(tc.der)
			if err != nil {
				t.Fatalf("Parse: %v (the alteration keeps the DER well formed)", err)
			}
			if err := sd.Verify(tc.digest); !errors.Is(err, cms.ErrInvalidSignature) {
				t.Fatalf("Verify = %v, want ErrInvalidSignature", err)
			}
		})
	}
	if err := good.Verify(d); err != nil {
		t.Fatalf("the untouched signature: %v", err)
	}
	if err := good.VerifyContent(append(bytes.Clone(document), ' ')); !errors.Is(err, cms.ErrInvalidSignature) {
		t.Fatalf("VerifyContent of altered content: %v", err)
	}
}

func TestVerifyNeedsTheSignerCertificate(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "P-256")
	d := hashOf(crypto.SHA256, document)
	der, err := cms.SignDigest(context.Background(), s.key, d, cms.SignOptions{Hash: crypto.SHA256, Certificate: s.cert, NoCertificates: true})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Certificates) != 0 || sd.Signers[0].Certificate != nil {
		t.Fatalf("NoCertificates embedded %d", len(sd.Certificates))
	}
	if sd.Signers[0].SerialNumber.Cmp(s.cert.SerialNumber) != 0 || !bytes.Equal(sd.Signers[0].Issuer, s.cert.RawIssuer) {
		t.Fatalf("sid does not name the signer certificate")
	}
	if err := sd.Verify(d); !errors.Is(err, cms.ErrInvalidSignature) || !strings.Contains(err.Error(), "not embedded") {
		t.Fatalf("Verify = %v", err)
	}
}

// badSigner returns a valid-looking signature from another key.
type badSigner struct {
	crypto.Signer
	other crypto.Signer
}

func (b badSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return b.other.Sign(r, d, o)
}

type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("token removed")
}

func TestSignDigestRefusesBadOptions(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "P-256")
	other := newSigner(t, pki, "P-256")
	ctx := context.Background()
	d := hashOf(crypto.SHA256, document)
	ok := cms.SignOptions{Hash: crypto.SHA256, Certificate: s.cert}
	with := func(f func(o *cms.SignOptions)) cms.SignOptions { o := ok; f(&o); return o }
	ct, _ := asn1.Marshal(cms.OIDData)
	tests := []struct {
		name   string
		signer crypto.Signer
		digest []byte
		opts   cms.SignOptions
		want   error
	}{
		{"no certificate", s.key, d, with(func(o *cms.SignOptions) { o.Certificate = nil }), cms.ErrOptions},
		{"another key's certificate", s.key, d, with(func(o *cms.SignOptions) { o.Certificate = other.cert }), cms.ErrOptions},
		{"SHA-1", s.key, hashOf(crypto.SHA1, document), with(func(o *cms.SignOptions) { o.Hash = crypto.SHA1 }), cms.ErrUnsupportedAlgorithm},
		{"no hash", s.key, d, with(func(o *cms.SignOptions) { o.Hash = 0 }), cms.ErrUnsupportedAlgorithm},
		{"a digest of the wrong length", s.key, d[:31], ok, cms.ErrOptions},
		{"content whose digest is not the one given", s.key, d, with(func(o *cms.SignOptions) { o.Content = []byte("other") }), cms.ErrOptions},
		{"an extra attribute repeating content-type", s.key, d, with(func(o *cms.SignOptions) {
			o.ExtraSigned = []cms.Attribute{{Type: cms.OIDContentType, Values: []asn1.RawValue{{FullBytes: ct}}}}
		}), cms.ErrOptions},
		{"an extra attribute without values", s.key, d, with(func(o *cms.SignOptions) {
			o.ExtraSigned = []cms.Attribute{{Type: asn1.ObjectIdentifier{1, 2, 3}}}
		}), cms.ErrOptions},
		{"a signer returning another key's signatures", badSigner{s.key, other.key}, d, ok, cms.ErrSigner},
		{"a failing signer", failingSigner{s.key}, d, ok, cms.ErrSigner},
		{"no signer", nil, d, ok, cms.ErrOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := cms.SignDigest(ctx, tc.signer, tc.digest, tc.opts)
			if !errors.Is(err, tc.want) || der != nil {
				t.Fatalf("SignDigest = %d bytes, %v; want %v", len(der), err, tc.want)
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cms.SignDigest(cancelled, s.key, d, ok); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestExtraSignedAttributes(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "P-256")
	oid := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 15} // id-aa-ets-sigPolicyId, any value will do
	val, _ := asn1.Marshal("a value")
	d := hashOf(crypto.SHA256, document)
	der, err := cms.SignDigest(context.Background(), s.key, d, cms.SignOptions{
		Hash: crypto.SHA256, Certificate: s.cert,
		ExtraSigned: []cms.Attribute{{Type: oid, Values: []asn1.RawValue{{FullBytes: val}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.Verify(d); err != nil {
		t.Fatal(err)
	}
	var found bool
	var prev []byte
	for _, a := range sd.Signers[0].SignedAttributes {
		if a.Type.Equal(oid) && bytes.Equal(a.Values[0].FullBytes, val) {
			found = true
		}
	}
	// DER: the SET OF attributes is sorted by encoding (X.690 §11.6).
	s2 := cryptobyte.String(sd.Signers[0].RawSignedAttributes)
	var set cryptobyte.String
	s2.ReadASN1(&set, cbasn1.SET)
	for !set.Empty() {
		var el cryptobyte.String
		set.ReadAnyASN1Element(&el, nil)
		if prev != nil && bytes.Compare(prev, el) > 0 {
			t.Errorf("signed attributes are not sorted")
		}
		prev = el
	}
	if !found || len(sd.Signers[0].SignedAttributes) != 4 {
		t.Fatalf("attributes %v", sd.Signers[0].SignedAttributes)
	}
}

// fakeToken builds a time-stamp token (signed TSTInfo) over imprint; enough
// for AddSignatureTimestamp, which checks the imprint (signing/tsa tests
// use real tokens).
func fakeToken(t *testing.T, tsa signer, h crypto.Hash, imprint []byte) []byte {
	t.Helper()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(cms.HashOID(h)) })
			b.AddASN1OctetString(imprint)
		})
		b.AddASN1BigInt(big.NewInt(42))
		b.AddASN1GeneralizedTime(time.Now().UTC().Truncate(time.Second))
	})
	tst := b.BytesOrPanic()
	tok, err := cms.SignDigest(context.Background(), tsa.key, hashOf(crypto.SHA256, tst), cms.SignOptions{
		Hash: crypto.SHA256, Certificate: tsa.cert, ContentType: cms.OIDTSTInfo, Content: tst,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAddSignatureTimestamp(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "RSA-2048")
	tsaKey := cmstest.NewKey(t, "P-256")
	tsa := signer{tsaKey, pki.IssueTSA(t, tsaKey.Public(), "TSA", true)}
	d := hashOf(crypto.SHA256, document)
	der, err := cms.SignDigest(context.Background(), s.key, d, cms.SignOptions{
		Hash: crypto.SHA256, Certificate: s.cert, Chain: []*x509.Certificate{pki.Intermediate}, SigningTime: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sigValue, err := cms.SignatureValue(der)
	if err != nil {
		t.Fatal(err)
	}
	token := fakeToken(t, tsa, crypto.SHA512, hashOf(crypto.SHA512, sigValue))
	bt, err := cms.AddSignatureTimestamp(der, token)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(bt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sd.Signers[0].Timestamp, token) || len(sd.Signers[0].UnsignedAttributes) != 1 {
		t.Fatalf("timestamp not found after AddSignatureTimestamp")
	}
	if err := sd.Verify(d); err != nil {
		t.Fatalf("a B-T signature no longer verifies: %v", err)
	}
	orig, _ := cms.Parse(der)
	if !bytes.Equal(orig.Signers[0].RawSignedAttributes, sd.Signers[0].RawSignedAttributes) || !bytes.Equal(sigValue, sd.Signers[0].Signature) {
		t.Fatal("signed attributes or signature changed")
	}
	if out, err := opensslVerify(t, pki, bt, document); err != nil || !strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	out, err := cmstest.OpenSSL(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", cmstest.WriteFile(t, t.TempDir(), "bt.p7s", bt))
	if err != nil || !strings.Contains(out, "id-smime-aa-timeStampToken") {
		t.Fatalf("openssl print: %v\n%s", err, out)
	}

	t.Run("a second time-stamp becomes a second attribute", func(t *testing.T) {
		again, err := cms.AddSignatureTimestamp(bt, fakeToken(t, tsa, crypto.SHA256, hashOf(crypto.SHA256, sigValue)))
		if err != nil {
			t.Fatal(err)
		}
		sd, err := cms.Parse(again)
		if err != nil || len(sd.Signers[0].UnsignedAttributes) != 2 {
			t.Fatalf("%v, %+v", err, sd)
		}
	})
	t.Run("a token over something else is refused", func(t *testing.T) {
		wrong := fakeToken(t, tsa, crypto.SHA256, hashOf(crypto.SHA256, document))
		if out, err := cms.AddSignatureTimestamp(der, wrong); !errors.Is(err, cms.ErrInvalidSignature) || out != nil {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a token that is not a time-stamp token is refused", func(t *testing.T) {
		if _, err := cms.AddSignatureTimestamp(der, der); !errors.Is(err, cms.ErrMalformed) {
			t.Fatalf("err = %v", err)
		}
		if _, err := cms.AddSignatureTimestamp(der, []byte("garbage")); !errors.Is(err, cms.ErrMalformed) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestParseRejectsMalformedInput(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "P-256")
	der, err := cms.SignDigest(context.Background(), s.key, hashOf(crypto.SHA256, document), cms.SignOptions{Hash: crypto.SHA256, Certificate: s.cert})
	if err != nil {
		t.Fatal(err)
	}
	// BER with indefinite lengths: what some old tools write.
	ber := []byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x30, 0x80, 0, 0, 0, 0, 0, 0}
	data, _ := asn1.Marshal(struct {
		OID     asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"explicit,tag:0"`
	}{cms.OIDData, asn1.RawValue{Tag: asn1.TagOctetString, Bytes: []byte("x")}})
	tests := map[string][]byte{
		"empty input":                 nil,
		"garbage":                     []byte("not DER at all"),
		"BER indefinite length":       ber,
		"trailing data":               append(bytes.Clone(der), 0),
		"a truncated signature":       der[:len(der)-1],
		"a ContentInfo of other type": data,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if sd, err := cms.Parse(in); !errors.Is(err, cms.ErrMalformed) || sd != nil {
				t.Fatalf("Parse = %v, %v", sd, err)
			}
		})
	}
	t.Run("indefinite lengths are named in the error", func(t *testing.T) {
		if _, err := cms.Parse(ber); err == nil || !strings.Contains(err.Error(), "indefinite") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestHashOIDs(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		got, err := cms.HashFromOID(cms.HashOID(h))
		if err != nil || got != h {
			t.Errorf("%v: %v %v", h, got, err)
		}
	}
	if cms.HashOID(crypto.SHA1) != nil || cms.HashOID(crypto.MD5) != nil {
		t.Error("HashOID gives an identifier for a weak hash")
	}
	for _, oid := range []asn1.ObjectIdentifier{{1, 3, 14, 3, 2, 26}, {1, 2, 840, 113549, 2, 5}, {1, 2, 3}} {
		if _, err := cms.HashFromOID(oid); !errors.Is(err, cms.ErrUnsupportedAlgorithm) {
			t.Errorf("%s: %v", oid, err)
		}
	}
}

func TestSignaturesAreRandomisedButVerify(t *testing.T) {
	pki := cmstest.NewPKI(t)
	s := newSigner(t, pki, "P-256")
	d := make([]byte, 32)
	rand.Read(d)
	a, err1 := cms.SignDigest(context.Background(), s.key, d, cms.SignOptions{Hash: crypto.SHA256, Certificate: s.cert})
	b, err2 := cms.SignDigest(context.Background(), s.key, d, cms.SignOptions{Hash: crypto.SHA256, Certificate: s.cert})
	if err1 != nil || err2 != nil || bytes.Equal(a, b) {
		t.Fatalf("%v %v equal=%v", err1, err2, bytes.Equal(a, b))
	}
	for _, der := range [][]byte{a, b} {
		sd, err := cms.Parse(der)
		if err != nil || sd.Verify(d) != nil {
			t.Fatal(err)
		}
	}
}
