package ca_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/ocsp"

	"eidp/hsm/testkeys"
	"eidp/internal/testenv"
	"eidp/signing/ca"
)

// Real requests made by OpenSSL 3.0 (`openssl ocsp -reqout`): one with a
// nonce (SHA-1 CertID), and one asking for two certificates with SHA-256
// CertIDs and no nonce.
var openSSLRequests = []string{
	"307a30783051304f304d300906052b0e03021a05000414424ef3366d8b17e4f9865ea7849fe102bad1a82e0414d0154d1e53b451b6b4fc76aff28a42513a24578d021413410f223e355919f40573c90651889f78567cdba2233021301f06092b060105050730010204120410fed1a8372e6cc85e780434edb7e7ce34",
	"3081ce3081cb3081c8306b3069300d06096086480165030402010500042068616d82f11fc8dde296ea83d9d7f21acd752b4b08f03a389de57ec70661bf6a04203e5e9e5af66d8e7dfe2022b7831ac2ce467bd1fb01def29794627adb38a5e36a021429360298b60968065e62f34bc29d163e4ba64dc930593057300d06096086480165030402010500042068616d82f11fc8dde296ea83d9d7f21acd752b4b08f03a389de57ec70661bf6a04203e5e9e5af66d8e7dfe2022b7831ac2ce467bd1fb01def29794627adb38a5e36a02021234",
}

func seedRequests(f *testing.F) {
	for _, h := range openSSLRequests {
		der, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
}

func TestOpenSSLRequestsParse(t *testing.T) {
	for i, h := range openSSLRequests {
		der, _ := hex.DecodeString(h)
		raws, serials, nonce, err := ca.ParseOCSPRequest(der)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		switch i {
		case 0:
			if len(raws) != 1 || len(nonce) != 18 || serials[0] != new(big.Int).SetBytes(mustHex("13410f223e355919f40573c90651889f78567cdb")).String() {
				t.Errorf("request with nonce: %d CertIDs, nonce %x, serial %s", len(raws), nonce, serials)
			}
		case 1:
			if len(raws) != 2 || nonce != nil || serials[1] != "4660" {
				t.Errorf("request for two: %d CertIDs, nonce %x, serials %v", len(raws), nonce, serials)
			}
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzParseOCSPRequest: the parser never panics, and what it accepts is
// consistent with its input.
func FuzzParseOCSPRequest(f *testing.F) {
	seedRequests(f)
	f.Fuzz(func(t *testing.T, der []byte) {
		raws, _, nonce, err := ca.ParseOCSPRequest(der)
		if err != nil {
			if len(raws) != 0 || nonce != nil {
				t.Fatal("an error with results")
			}
			return
		}
		if len(raws) == 0 || len(raws) > 8 || len(nonce) > 34 {
			t.Fatalf("accepted %d CertIDs and a nonce of %d octets", len(raws), len(nonce))
		}
		for _, r := range raws {
			if !bytes.Contains(der, r) {
				t.Fatal("a CertID that is not in the request")
			}
		}
	})
}

// FuzzOCSPHandler posts arbitrary bodies to the responder: every answer is
// an OCSP error response or a successful response signed by the responder.
func FuzzOCSPHandler(f *testing.F) {
	seedRequests(f)
	fx, h := initialised(f, testenv.OpenDB(f, testenv.SQLite(f)), testkeys.Soft(f))
	issued := fx.issue(f, "r1")
	for _, c := range []*x509.Certificate{issued.Cert, {SerialNumber: big.NewInt(7)}} {
		for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			der, err := ocsp.CreateRequest(c, h.Issuing, &ocsp.RequestOptions{Hash: hash})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(der)
		}
	}
	handler := fx.ca.Handler()
	f.Fuzz(func(t *testing.T, der []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/pki/ocsp", bytes.NewReader(der))
		req.Header.Set("Content-Type", "application/ocsp-request")
		handler.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d", rec.Code)
		}
		for _, e := range [][]byte{ocsp.MalformedRequestErrorResponse, ocsp.UnauthorizedErrorResponse} {
			if bytes.Equal(body, e) {
				return
			}
		}
		resp, err := ocsp.ParseResponse(body, h.Issuing)
		var perr ocsp.ParseError
		if errors.As(err, &perr) && string(perr) == "OCSP response contains bad number of responses" {
			return // several CertIDs: ParseResponse reads single answers only
		}
		if err != nil {
			t.Fatalf("response %x does not parse: %v", body, err)
		}
		if !resp.Certificate.Equal(h.OCSP) {
			t.Fatal("response not signed by the responder")
		}
		want := ocsp.Unknown
		if resp.SerialNumber.Cmp(issued.Serial) == 0 {
			want = ocsp.Good
		}
		if resp.Status != want {
			t.Fatalf("status %d for serial %x", resp.Status, resp.SerialNumber)
		}
	})
}
