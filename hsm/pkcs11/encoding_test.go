package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"eidp/hsm"
)

func TestECParamsRoundTrip(t *testing.T) {
	tests := []struct {
		alg hsm.Algorithm
		der string // DER of the namedCurve OID
	}{
		{hsm.ECP256, "06082a8648ce3d030107"},
		{hsm.ECP384, "06052b81040022"},
		{hsm.Ed25519, "06032b6570"},
	}
	for _, tc := range tests {
		p, err := ecParams(tc.alg)
		if err != nil || hex.EncodeToString(p) != tc.der {
			t.Errorf("ecParams(%s) = %x, %v; want %s", tc.alg, p, err, tc.der)
		}
		alg, err := algorithmFromECParams(p)
		if err != nil || alg != tc.alg {
			t.Errorf("algorithmFromECParams(%x) = %s, %v; want %s", p, alg, err, tc.alg)
		}
	}
	name, _ := asn1.MarshalWithParams("edwards25519", "printable")
	if alg, err := algorithmFromECParams(name); err != nil || alg != hsm.Ed25519 {
		t.Errorf("curve name edwards25519: %s, %v", alg, err)
	}
	secp256k1, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 3, 132, 0, 10})
	for _, bad := range [][]byte{secp256k1, {0x05, 0x00}, nil} {
		if _, err := algorithmFromECParams(bad); !errors.Is(err, hsm.ErrUnsupportedAlgorithm) {
			t.Errorf("algorithmFromECParams(%x): %v, want hsm.ErrUnsupportedAlgorithm", bad, err)
		}
	}
}

func TestPublicFromECPointAcceptsDERAndBarePoints(t *testing.T) {
	for _, alg := range []hsm.Algorithm{hsm.ECP256, hsm.ECP384} {
		curve := elliptic.P256()
		if alg == hsm.ECP384 {
			curve = elliptic.P384()
		}
		k, _ := ecdsa.GenerateKey(curve, rand.Reader)
		bare, _ := k.PublicKey.Bytes()
		wrapped, _ := asn1.Marshal(bare)
		for _, point := range [][]byte{bare, wrapped} {
			pub, err := publicFromECPoint(alg, point)
			if err != nil || !k.PublicKey.Equal(pub) {
				t.Errorf("%s point of %d bytes: %v", alg, len(point), err)
			}
		}
		if _, err := publicFromECPoint(alg, bare[:len(bare)-1]); err == nil {
			t.Errorf("%s: a truncated point was accepted", alg)
		}
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	wrapped, _ := asn1.Marshal([]byte(pub))
	for _, point := range [][]byte{pub, wrapped} {
		got, err := publicFromECPoint(hsm.Ed25519, point)
		if err != nil || !pub.Equal(got) {
			t.Errorf("Ed25519 point of %d bytes: %v", len(point), err)
		}
	}
}

func TestECDSADERVerifiesWithTheStandardLibrary(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("message"))
	for range 50 { // small r or s (leading zero bytes) must survive too
		r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			t.Fatal(err)
		}
		rs := make([]byte, 64)
		r.FillBytes(rs[:32])
		s.FillBytes(rs[32:])
		der, err := ecdsaDER(rs, 32)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(&k.PublicKey, d[:], der) {
			t.Fatalf("DER of r||s %x does not verify", rs)
		}
	}
	zeros := make([]byte, 64)
	zeros[31], zeros[63] = 1, 2
	der, _ := ecdsaDER(zeros, 32)
	if hex.EncodeToString(der) != "3006020101020102" {
		t.Errorf("ecdsaDER(r=1, s=2) = %x", der)
	}
	if _, err := ecdsaDER(make([]byte, 63), 32); err == nil {
		t.Error("an r||s of the wrong length was accepted")
	}
}

func TestDigestInfoMatchesRFC8017(t *testing.T) {
	// RFC 8017 §9.2 note 1: the DER prefixes of DigestInfo.
	prefixes := map[crypto.Hash]string{
		crypto.SHA256: "3031300d060960864801650304020105000420",
		crypto.SHA384: "3041300d060960864801650304020205000430",
		crypto.SHA512: "3051300d060960864801650304020305000440",
	}
	for h, prefix := range prefixes {
		d := make([]byte, h.Size())
		di, err := digestInfo(h, d)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(di); got != prefix+hex.EncodeToString(d) {
			t.Errorf("%v: DigestInfo %s, want prefix %s", h, got, prefix)
		}
	}
	// Signing the DigestInfo "raw" (what CKM_RSA_PKCS does) gives a
	// signature crypto/rsa verifies.
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	d := sha512.Sum384([]byte("m"))
	di, _ := digestInfo(crypto.SHA384, d[:])
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.Hash(0), di)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA384, d[:], sig); err != nil {
		t.Errorf("signature over our DigestInfo: %v", err)
	}
	if _, err := digestInfo(crypto.SHA256, d[:]); err == nil {
		t.Error("a 48-byte digest was accepted as SHA-256")
	}
	if _, err := digestInfo(crypto.SHA1, make([]byte, 20)); !errors.Is(err, hsm.ErrUnsupportedAlgorithm) {
		t.Errorf("SHA-1: %v, want hsm.ErrUnsupportedAlgorithm", err)
	}
}

func TestPSSSaltLength(t *testing.T) {
	tests := []struct {
		salt int
		want int
		ok   bool
	}{
		{rsa.PSSSaltLengthEqualsHash, 32, true},
		{rsa.PSSSaltLengthAuto, 32, true}, // tokens refuse "auto": use the hash length
		{20, 20, true},
		{-2, 0, false},
	}
	for _, tc := range tests {
		got, err := pssSaltLength(&rsa.PSSOptions{SaltLength: tc.salt}, crypto.SHA256)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("pssSaltLength(%d) = %d, %v; want %d", tc.salt, got, err, tc.want)
		}
	}
}

func TestPublicFromRSA(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, alg, err := publicFromRSA(k.N.Bytes(), big.NewInt(int64(k.E)).Bytes())
	if err != nil || alg != hsm.RSA2048 || !k.PublicKey.Equal(pub) {
		t.Errorf("publicFromRSA = %v, %s, %v", pub, alg, err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, _, err := publicFromRSA(small.N.Bytes(), []byte{1, 0, 1}); !errors.Is(err, hsm.ErrUnsupportedAlgorithm) {
		t.Errorf("RSA-1024: %v, want hsm.ErrUnsupportedAlgorithm", err)
	}
}
