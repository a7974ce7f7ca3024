package verify_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"eidp/signing/cms/cmstest"
	"eidp/signing/verify"
)

// A responder made with x/crypto/ocsp, signed by the issuing CA itself.
func TestOCSPStatusSource(t *testing.T) {
	pki := cmstest.NewPKI(t)
	now := time.Now().Truncate(time.Second)
	var answer ocsp.Response
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil || r.Header.Get("Content-Type") != "application/ocsp-request" {
			http.Error(w, "bad request", 400)
			return
		}
		tmpl := answer
		tmpl.SerialNumber = req.SerialNumber
		der, err := ocsp.CreateResponse(pki.Intermediate, pki.Intermediate, tmpl, pki.IntKey)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(der)
	}))
	defer srv.Close()
	key := cmstest.NewKey(t, "P-256")
	cert := pki.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Chan Tai Man"}, KeyUsage: x509.KeyUsageDigitalSignature,
		OCSPServer: []string{srv.URL + "/pki/ocsp"}}, key.Public())
	noAIA := pki.IssueSigner(t, key.Public(), "No AIA")
	src := &verify.OCSP{Timeout: 5 * time.Second}
	ctx := context.Background()

	for _, tc := range []struct {
		name   string
		answer ocsp.Response
		want   verify.Status
		err    bool
	}{
		{"good", ocsp.Response{Status: ocsp.Good, ThisUpdate: now, NextUpdate: now.Add(time.Hour)}, verify.Status{Known: true}, false},
		{"revoked", ocsp.Response{Status: ocsp.Revoked, ThisUpdate: now, NextUpdate: now.Add(time.Hour), RevokedAt: now.Add(-time.Hour), RevocationReason: ocsp.KeyCompromise},
			verify.Status{Known: true, Revoked: true, RevokedAt: now.Add(-time.Hour), Reason: ocsp.KeyCompromise}, false},
		{"unknown", ocsp.Response{Status: ocsp.Unknown, ThisUpdate: now, NextUpdate: now.Add(time.Hour)}, verify.Status{}, false},
		{"stale", ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(-3 * time.Hour), NextUpdate: now.Add(-2 * time.Hour)}, verify.Status{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer = tc.answer
			st, err := src.Status(ctx, cert, pki.Intermediate)
			if (err != nil) != tc.err || st.Known != tc.want.Known || st.Revoked != tc.want.Revoked ||
				!st.RevokedAt.Equal(tc.want.RevokedAt) || st.Reason != tc.want.Reason {
				t.Errorf("Status = %+v, %v; want %+v", st, err, tc.want)
			}
		})
	}
	t.Run("a response for another issuer is refused", func(t *testing.T) {
		answer = ocsp.Response{Status: ocsp.Good, ThisUpdate: now, NextUpdate: now.Add(time.Hour)}
		other := cmstest.NewPKI(t)
		if _, err := src.Status(ctx, cert, other.Intermediate); err == nil {
			t.Error("accepted")
		}
	})
	t.Run("no responder in the certificate", func(t *testing.T) {
		before := requests
		if _, err := src.Status(ctx, noAIA, pki.Intermediate); !errors.Is(err, verify.ErrNoResponder) || requests != before {
			t.Errorf("err %v, %d requests", err, requests-before)
		}
	})
	t.Run("a responder that is down", func(t *testing.T) {
		down := pki.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Down"}, SerialNumber: big.NewInt(5),
			OCSPServer: []string{"http://127.0.0.1:1/ocsp"}}, key.Public())
		if _, err := src.Status(ctx, down, pki.Intermediate); err == nil {
			t.Error("no error")
		}
	})
}
