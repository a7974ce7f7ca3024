package tsa_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"eidp/internal/testenv"
	"eidp/signing/cms"
	"eidp/signing/cms/cmstest"
	"eidp/signing/tsa"
)

// policy is in the 2.25 arc, whose 128-bit component asn1.ObjectIdentifier cannot hold.
var policy = mustOID("2.25.301675463513418934196587113384290541822")

func mustOID(s string) x509.OID {
	o, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

var data = []byte("a document to time-stamp\n")

func sha(h crypto.Hash, b []byte) []byte {
	w := h.New()
	w.Write(b)
	return w.Sum(nil)
}

type fixture struct {
	pki   *cmstest.PKI
	key   crypto.Signer
	cert  *x509.Certificate
	clock *testenv.Clock
}

func newFixture(t *testing.T, kind string) fixture {
	t.Helper()
	pki := cmstest.NewPKI(t)
	key := cmstest.NewKey(t, kind)
	return fixture{pki, key, pki.IssueTSA(t, key.Public(), "eidp test TSA", true),
		testenv.NewClock(time.Now().Add(-time.Minute).Truncate(time.Second))}
}

func (f fixture) authority(t *testing.T, chain bool, opts ...tsa.Option) *tsa.Authority {
	t.Helper()
	var c []*x509.Certificate
	if chain {
		c = []*x509.Certificate{f.pki.Intermediate}
	}
	a, err := tsa.New(f.key, f.cert, c, policy, append([]tsa.Option{tsa.WithClock(f.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRespondToOpenSSLQueries(t *testing.T) {
	for _, tc := range []struct {
		key   string
		chain bool
		opts  []tsa.Option
	}{
		{"P-256", true, nil},
		{"P-256", false, nil},
		{"P-384", true, nil},
		// No RSASSA-PSS here: openssl ts -verify goes through its PKCS #7
		// code, which verifies PKCS #1 v1.5 only (TestPSSToken uses openssl cms).
		{"RSA-2048", true, nil},
		{"RSA-2048", false, []tsa.Option{tsa.WithHash(crypto.SHA512)}},
	} {
		t.Run(fmt.Sprintf("%s chain embedded %v", tc.key, tc.chain), func(t *testing.T) {
			f := newFixture(t, tc.key)
			a := f.authority(t, tc.chain, tc.opts...)
			dir := t.TempDir()
			file := cmstest.WriteFile(t, dir, "data", data)
			query := dir + "/req.tsq"
			if out, err := cmstest.OpenSSL(t, "ts", "-query", "-data", file, "-sha256", "-cert", "-out", query); err != nil {
				t.Fatalf("openssl ts -query: %v\n%s", err, out)
			}
			req, err := os.ReadFile(query)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := a.Respond(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			tsr := cmstest.WriteFile(t, dir, "resp.tsr", resp)
			args := []string{"ts", "-verify", "-data", file, "-in", tsr, "-CAfile", f.pki.RootPEM}
			if !tc.chain {
				// Without the issuing CA in the token openssl must fail…
				if out, err := cmstest.OpenSSL(t, args...); err == nil {
					t.Fatalf("openssl verified without the issuing CA:\n%s", out)
				}
				// …and succeed when given it.
				args = append(args, "-untrusted", f.pki.IntermediatePEM)
			}
			out, err := cmstest.OpenSSL(t, args...)
			if err != nil || !strings.Contains(out, "Verification: OK") {
				t.Fatalf("openssl ts -verify: %v\n%s", err, out)
			}
			other := cmstest.WriteFile(t, dir, "other", []byte("another document"))
			if out, err := cmstest.OpenSSL(t, "ts", "-verify", "-data", other, "-in", tsr, "-CAfile", f.pki.RootPEM, "-untrusted", f.pki.IntermediatePEM); err == nil {
				t.Fatalf("openssl verified the token against another document:\n%s", out)
			}

			text, err := cmstest.OpenSSL(t, "ts", "-reply", "-in", tsr, "-text")
			if err != nil {
				t.Fatalf("openssl ts -reply: %v\n%s", err, text)
			}
			q, _ := cmstest.OpenSSL(t, "ts", "-query", "-in", query, "-text")
			nonce := between(q, "Nonce: ", "\n")
			for _, want := range []string{"Status: Granted.", "Policy OID: " + policy.String(), "Nonce: " + nonce,
				"Accuracy: 0x01 seconds, unspecified millis, unspecified micros", "Ordering: no",
				"Time stamp: " + f.clock.Now().UTC().Format("Jan _2 15:04:05 2006 GMT")} {
				if nonce == "" || !strings.Contains(text, want) {
					t.Errorf("no %q in\n%s", want, text)
				}
			}

			token, err := tsa.ParseResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tsa.ParseToken(token)
			if err != nil {
				t.Fatal(err)
			}
			if err := tok.Verify(crypto.SHA256, sha(crypto.SHA256, data), cmstest.Pool(f.pki.Root), cmstest.Pool(f.pki.Intermediate)); err != nil {
				t.Fatalf("Token.Verify: %v", err)
			}
			if !tok.GenTime.Equal(f.clock.Now()) || !tok.Policy.Equal(policy) || tok.Accuracy != time.Second ||
				tok.Nonce == nil || tok.Serial.BitLen() != 128 || tok.Ordering || !tok.SignedData.Signers[0].SigningCertV2 {
				t.Errorf("token fields: %+v", tok)
			}
			if n, ok := new(big.Int).SetString(strings.TrimPrefix(nonce, "0x"), 16); !ok || n.Cmp(tok.Nonce) != 0 {
				t.Errorf("nonce %X, openssl says %s", tok.Nonce, nonce)
			}
		})
	}
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return strings.TrimSpace(v)
}

func TestNewRequestIsReadByOpenSSL(t *testing.T) {
	digest := sha(crypto.SHA384, data)
	nonce := new(big.Int).SetBytes([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0})
	req, err := tsa.NewRequest(crypto.SHA384, digest, nonce, true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmstest.OpenSSL(t, "ts", "-query", "-in", cmstest.WriteFile(t, t.TempDir(), "req.tsq", req), "-text")
	if err != nil {
		t.Fatalf("openssl ts -query -in: %v\n%s", err, out)
	}
	hexDigest := fmt.Sprintf("%02x", digest[:8])
	for _, want := range []string{"Version: 1", "Hash Algorithm: sha384", "Nonce: 0x123456789ABCDEF0", "Certificate required: yes", "Policy OID: unspecified"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if !strings.Contains(strings.ReplaceAll(strings.ReplaceAll(out, " ", ""), "-", ""), hexDigest) {
		t.Errorf("digest %s not printed:\n%s", hexDigest, out)
	}
	parsed, err := tsa.ParseRequest(req)
	if err != nil || parsed.Hash != crypto.SHA384 || !bytes.Equal(parsed.Digest, digest) || parsed.Nonce.Cmp(nonce) != 0 || !parsed.CertReq || parsed.Policy.String() != "" {
		t.Fatalf("round trip: %+v %v", parsed, err)
	}
	if _, err := tsa.NewRequest(crypto.SHA256, digest, nil, false); err == nil {
		t.Fatal("NewRequest accepted a SHA-384 digest as SHA-256")
	}
	if _, err := tsa.NewRequest(crypto.SHA1, sha(crypto.SHA1, data), nil, false); !errors.Is(err, cms.ErrUnsupportedAlgorithm) {
		t.Fatalf("SHA-1: %v", err)
	}
}

// rawRequest encodes a TimeStampReq with any algorithm and digest.
func rawRequest(alg asn1.ObjectIdentifier, digest []byte, extra func(b *cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(alg); b.AddASN1NULL() })
			b.AddASN1OctetString(digest)
		})
		if extra != nil {
			extra(b)
		}
	})
	return b.BytesOrPanic()
}

func TestRespondRejections(t *testing.T) {
	f := newFixture(t, "P-256")
	a := f.authority(t, true)
	sha256OID := cms.HashOID(crypto.SHA256)
	good := rawRequest(sha256OID, sha(crypto.SHA256, data), nil)
	md5 := asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	sha1 := asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	tests := []struct {
		name string
		req  []byte
		fail tsa.FailureInfo
		text string // what openssl ts -reply -text prints
	}{
		{"an MD5 imprint", rawRequest(md5, sha(crypto.MD5, data), nil), tsa.BadAlg, "unrecognized or unsupported algorithm identifier"},
		{"a SHA-1 imprint", rawRequest(sha1, sha(crypto.SHA1, data), nil), tsa.BadAlg, "unrecognized or unsupported algorithm identifier"},
		{"a digest too short for SHA-256", rawRequest(sha256OID, sha(crypto.SHA256, data)[:31], nil), tsa.BadDataFormat, "the data submitted has the wrong format"},
		{"a SHA-512 digest labelled SHA-256", rawRequest(sha256OID, sha(crypto.SHA512, data), nil), tsa.BadDataFormat, "the data submitted has the wrong format"},
		{"garbage", []byte("GET / HTTP/1.1"), tsa.BadDataFormat, "the data submitted has the wrong format"},
		{"an empty body", nil, tsa.BadDataFormat, "the data submitted has the wrong format"},
		{"trailing data", append(bytes.Clone(good), 0), tsa.BadDataFormat, "the data submitted has the wrong format"},
		{"a policy we do not serve", rawRequest(sha256OID, sha(crypto.SHA256, data), func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 3, 4})
		}), tsa.UnacceptedPolicy, "the requested TSA policy is not supported"},
		{"an extension", rawRequest(sha256OID, sha(crypto.SHA256, data), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 3})
					b.AddASN1OctetString(nil)
				})
			})
		}), tsa.UnacceptedExtension, "the requested extension is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Respond(context.Background(), tc.req)
			if err != nil {
				t.Fatalf("Respond returned an error for a client mistake: %v", err)
			}
			token, err := tsa.ParseResponse(resp)
			var se *tsa.StatusError
			if token != nil || !errors.Is(err, tsa.ErrRejected) || !errors.As(err, &se) {
				t.Fatalf("ParseResponse = %x, %v", token, err)
			}
			if se.Status != tsa.StatusRejection || len(se.FailInfo) != 1 || se.FailInfo[0] != tc.fail || se.Text == "" {
				t.Fatalf("status %+v, want failInfo %v", se, tc.fail)
			}
			if !strings.Contains(err.Error(), tc.fail.String()) {
				t.Errorf("error %q does not name %v", err, tc.fail)
			}
			out, err := cmstest.OpenSSL(t, "ts", "-reply", "-in", cmstest.WriteFile(t, t.TempDir(), "resp.tsr", resp), "-text")
			if err != nil || !strings.Contains(out, "Status: Rejected") || !strings.Contains(out, tc.text) {
				t.Fatalf("openssl ts -reply: %v\n%s", err, out)
			}
		})
	}
	t.Run("the policy we serve is accepted", func(t *testing.T) {
		resp, err := a.Respond(context.Background(), rawRequest(sha256OID, sha(crypto.SHA256, data), func(b *cryptobyte.Builder) {
			der, _ := policy.MarshalBinary()
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(der) })
		}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tsa.ParseResponse(resp); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStampArguments(t *testing.T) {
	f := newFixture(t, "P-256")
	a := f.authority(t, true)
	ctx := context.Background()
	if _, err := a.Stamp(ctx, crypto.SHA1, sha(crypto.SHA1, data), nil, true); !errors.Is(err, tsa.ErrRequest) {
		t.Fatalf("SHA-1: %v", err)
	} else if fail, ok := tsa.IsRequestError(err); !ok || fail != tsa.BadAlg {
		t.Fatalf("SHA-1: %v %v", fail, ok)
	}
	if _, err := a.Stamp(ctx, crypto.SHA256, []byte("short"), nil, true); !errors.Is(err, tsa.ErrRequest) {
		t.Fatalf("short digest: %v", err)
	}

	t.Run("without certReq the token carries no certificate", func(t *testing.T) {
		token, err := a.Stamp(ctx, crypto.SHA256, sha(crypto.SHA256, data), nil, false)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tsa.ParseToken(token)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok.SignedData.Certificates) != 0 || tok.Certificate != nil || tok.Nonce != nil {
			t.Fatalf("%d certificates, nonce %v", len(tok.SignedData.Certificates), tok.Nonce)
		}
		if err := tok.Verify(crypto.SHA256, sha(crypto.SHA256, data), cmstest.Pool(f.pki.Root), nil); !errors.Is(err, tsa.ErrVerify) {
			t.Fatalf("Verify: %v", err)
		}
	})
	t.Run("serial numbers differ", func(t *testing.T) {
		seen := map[string]bool{}
		for range 20 {
			token, err := a.Stamp(ctx, crypto.SHA256, sha(crypto.SHA256, data), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := tsa.ParseToken(token)
			if seen[tok.Serial.String()] || tok.Serial.BitLen() < 64 {
				t.Fatalf("serial %v repeated or short", tok.Serial)
			}
			seen[tok.Serial.String()] = true
		}
	})
	t.Run("sub-second accuracy keeps the fraction of genTime", func(t *testing.T) {
		f.clock.Advance(250 * time.Millisecond)
		a := f.authority(t, true, tsa.WithAccuracy(100*time.Millisecond))
		token, err := a.Stamp(ctx, crypto.SHA256, sha(crypto.SHA256, data), big.NewInt(7), true)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tsa.ParseToken(token)
		if err != nil {
			t.Fatal(err)
		}
		if !tok.GenTime.Equal(f.clock.Now()) || tok.Accuracy != 100*time.Millisecond || tok.Nonce.Int64() != 7 {
			t.Fatalf("genTime %v (clock %v), accuracy %v", tok.GenTime, f.clock.Now(), tok.Accuracy)
		}
		resp := wrapGranted(t, token)
		dir := t.TempDir()
		out, err := cmstest.OpenSSL(t, "ts", "-reply", "-in", cmstest.WriteFile(t, dir, "r.tsr", resp), "-text")
		if err != nil || !strings.Contains(out, ".25 ") || !strings.Contains(out, "0x64 millis") {
			t.Fatalf("openssl: %v\n%s", err, out)
		}
		out, err = cmstest.OpenSSL(t, "ts", "-verify", "-data", cmstest.WriteFile(t, dir, "data", data), "-in", dir+"/r.tsr", "-CAfile", f.pki.RootPEM)
		if err != nil || !strings.Contains(out, "Verification: OK") {
			t.Fatalf("openssl ts -verify: %v\n%s", err, out)
		}
	})
}

// wrapGranted makes a granted TimeStampResp around a token.
func wrapGranted(t *testing.T, token []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Int64(0) })
		b.AddBytes(token)
	})
	return b.BytesOrPanic()
}

func TestNewChecksTheCertificate(t *testing.T) {
	f := newFixture(t, "P-256")
	other := cmstest.NewKey(t, "P-256")
	notCritical := f.pki.IssueTSA(t, f.key.Public(), "TSA with a non-critical EKU", false)
	signingCert := f.pki.IssueSigner(t, f.key.Public(), "not a TSA")
	withServerAuth := f.pki.Issue(t, &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping, x509.ExtKeyUsageServerAuth}}, f.key.Public())
	tests := []struct {
		name   string
		signer crypto.Signer
		cert   *x509.Certificate
		policy x509.OID
		want   error
	}{
		{"a non-critical timeStamping EKU", f.key, notCritical, policy, tsa.ErrCertificate},
		{"no EKU", f.key, signingCert, policy, tsa.ErrCertificate},
		{"a second purpose", f.key, withServerAuth, policy, tsa.ErrCertificate},
		{"another key", other, f.cert, policy, tsa.ErrConfig},
		{"no policy", f.key, f.cert, x509.OID{}, tsa.ErrConfig},
		{"no certificate", f.key, nil, policy, tsa.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := tsa.New(tc.signer, tc.cert, nil, tc.policy); !errors.Is(err, tc.want) || a != nil {
				t.Fatalf("New = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := tsa.New(f.key, f.cert, nil, policy, tsa.WithHash(crypto.SHA1)); !errors.Is(err, tsa.ErrConfig) {
		t.Fatalf("SHA-1 signatures: %v", err)
	}
}

func TestTokenVerify(t *testing.T) {
	f := newFixture(t, "P-256")
	a := f.authority(t, false)
	d := sha(crypto.SHA256, data)
	token, err := a.Stamp(context.Background(), crypto.SHA256, d, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tsa.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := cmstest.Pool(f.pki.Root), cmstest.Pool(f.pki.Intermediate)
	if err := tok.Verify(crypto.SHA256, d, roots, inter); err != nil {
		t.Fatal(err)
	}
	stranger := cmstest.NewPKI(t)
	tests := []struct {
		name          string
		hash          crypto.Hash
		digest        []byte
		roots, interm *x509.CertPool
	}{
		{"another digest", crypto.SHA256, sha(crypto.SHA256, []byte("other")), roots, inter},
		{"another hash", crypto.SHA512, sha(crypto.SHA512, data), roots, inter},
		{"another root", crypto.SHA256, d, cmstest.Pool(stranger.Root), inter},
		{"no issuing CA", crypto.SHA256, d, roots, nil},
		{"no roots", crypto.SHA256, d, nil, inter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tok.Verify(tc.hash, tc.digest, tc.roots, tc.interm); !errors.Is(err, tsa.ErrVerify) {
				t.Fatalf("Verify = %v", err)
			}
		})
	}
	t.Run("a genTime outside the TSA certificate's validity", func(t *testing.T) {
		f.clock.Advance(48 * time.Hour)
		late, err := a.Stamp(context.Background(), crypto.SHA256, d, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := tsa.ParseToken(late)
		if err := tok.Verify(crypto.SHA256, d, roots, inter); !errors.Is(err, tsa.ErrVerify) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("Verify = %v", err)
		}
	})
	t.Run("a token by a certificate without the timeStamping EKU", func(t *testing.T) {
		signCert := f.pki.IssueSigner(t, f.key.Public(), "not a TSA")
		tst := tok.TSTInfo
		forged, err := cms.SignDigest(context.Background(), f.key, sha(crypto.SHA256, tst), cms.SignOptions{
			Hash: crypto.SHA256, Certificate: signCert, ContentType: cms.OIDTSTInfo, Content: tst,
		})
		if err != nil {
			t.Fatal(err)
		}
		ft, err := tsa.ParseToken(forged)
		if err != nil {
			t.Fatal(err)
		}
		if err := ft.Verify(crypto.SHA256, d, roots, inter); !errors.Is(err, tsa.ErrCertificate) {
			t.Fatalf("Verify = %v", err)
		}
	})
	t.Run("a token whose content is not a TSTInfo", func(t *testing.T) {
		other, err := cms.SignDigest(context.Background(), f.key, d, cms.SignOptions{Hash: crypto.SHA256, Certificate: f.cert, Content: data})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tsa.ParseToken(other); !errors.Is(err, tsa.ErrMalformed) {
			t.Fatalf("ParseToken = %v", err)
		}
	})
}

// CAdES-B-T end to end: sign, time-stamp the signature value, add the token.
func TestCAdESBT(t *testing.T) {
	f := newFixture(t, "P-256")
	a := f.authority(t, true)
	signKey := cmstest.NewKey(t, "P-256")
	signCert := f.pki.IssueSigner(t, signKey.Public(), "Chan Tai Man")
	ctx := context.Background()
	sig, err := cms.SignDigest(ctx, signKey, sha(crypto.SHA256, data), cms.SignOptions{
		Hash: crypto.SHA256, Certificate: signCert, Chain: []*x509.Certificate{f.pki.Intermediate}, SigningTime: f.clock.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	value, err := cms.SignatureValue(sig)
	if err != nil {
		t.Fatal(err)
	}
	req, err := tsa.NewRequest(crypto.SHA256, sha(crypto.SHA256, value), big.NewInt(99), true)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Respond(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	token, err := tsa.ParseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := cms.AddSignatureTimestamp(sig, token)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(bt)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.VerifyContent(data); err != nil {
		t.Fatal(err)
	}
	tok, err := tsa.ParseToken(sd.Signers[0].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Verify(crypto.SHA256, sha(crypto.SHA256, sd.Signers[0].Signature), cmstest.Pool(f.pki.Root), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := cmstest.OpenSSL(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", cmstest.WriteFile(t, dir, "bt.p7s", bt),
		"-content", cmstest.WriteFile(t, dir, "data", data), "-CAfile", f.pki.RootPEM, "-purpose", "any", "-out", dir+"/out")
	if err != nil || !strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl cms: %v\n%s", err, out)
	}
}

func TestParseResponseRejectsMalformedInput(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":                      nil,
		"garbage":                    []byte("<html>"),
		"granted without a token":    {0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00},
		"rejection carrying a token": {0x30, 0x07, 0x30, 0x03, 0x02, 0x01, 0x02, 0x30, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			if tok, err := tsa.ParseResponse(in); !errors.Is(err, tsa.ErrMalformed) || tok != nil {
				t.Fatalf("ParseResponse = %x, %v", tok, err)
			}
		})
	}
}

func TestPSSToken(t *testing.T) {
	f := newFixture(t, "RSA-2048")
	a := f.authority(t, true, tsa.WithPSS(), tsa.WithHash(crypto.SHA384))
	d := sha(crypto.SHA256, data)
	token, err := a.Stamp(context.Background(), crypto.SHA256, d, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tsa.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	if alg := tok.SignedData.Signers[0].SignatureAlgorithm; alg != x509.SHA384WithRSAPSS {
		t.Fatalf("signature algorithm %v", alg)
	}
	if err := tok.Verify(crypto.SHA256, d, cmstest.Pool(f.pki.Root), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := cmstest.OpenSSL(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", cmstest.WriteFile(t, dir, "token.p7s", token),
		"-CAfile", f.pki.RootPEM, "-purpose", "timestampsign", "-out", dir+"/tstinfo")
	if err != nil || !strings.Contains(out, "Verification successful") {
		t.Fatalf("openssl cms -verify: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(dir + "/tstinfo"); !bytes.Equal(got, tok.TSTInfo) {
		t.Fatal("openssl extracted another TSTInfo")
	}
}
