package ca_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/ocsp"

	"eidp/hsm"
	"eidp/hsm/testkeys"
	"eidp/internal/testenv"
	"eidp/signing/ca"
)

// Issue 6's CA figures, on SQLite with soft keys and with SoftHSM2:
//
//	. /tmp/devsvc/env   # or run under scripts/test's services
//	go test ./signing/ca -run x -bench 'Issue|OCSP' -benchtime 3s -count 3
//
// BenchmarkIssue: a resident certificate — key pair generated in the key
// backend and wrapped, certificate signed by the issuing CA, rows written.
// BenchmarkOCSP: a POST to the responder for one certificate — parse,
// status lookup, response signed by the OCSP key.
func BenchmarkIssue(b *testing.B) {
	for _, kb := range benchBackends(b) {
		b.Run(kb.name, func(b *testing.B) {
			f, _ := initialised(b, testenv.OpenDB(b, testenv.SQLite(b)), kb.km)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := f.ca.Issue(ctx, ca.IssueRequest{ResidentID: fmt.Sprintf("bench-%d", i), GivenName: "Tai Man", FamilyName: "CHAN", Level: ca.LevelHigh}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
		})
	}
}

func BenchmarkOCSP(b *testing.B) {
	for _, kb := range benchBackends(b) {
		b.Run(kb.name, func(b *testing.B) {
			f, h := initialised(b, testenv.OpenDB(b, testenv.SQLite(b)), kb.km)
			c := f.issue(b, "resident-ocsp")
			req, err := ocsp.CreateRequest(c.Cert, h.Issuing, nil)
			if err != nil {
				b.Fatal(err)
			}
			handler := f.ca.Handler()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					r := httptest.NewRequest(http.MethodPost, "/pki/ocsp", bytes.NewReader(req))
					r.Header.Set("Content-Type", "application/ocsp-request")
					handler.ServeHTTP(rec, r)
					if rec.Code != http.StatusOK {
						b.Errorf("OCSP: %d", rec.Code)
						return
					}
					resp, err := ocsp.ParseResponseForCert(rec.Body.Bytes(), c.Cert, h.Issuing)
					if err != nil || resp.Status != ocsp.Good {
						b.Errorf("OCSP response: %v", err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "responses/s")
		})
	}
}

type benchBackend struct {
	name string
	km   hsm.KeyManager
}

func benchBackends(b *testing.B) []benchBackend {
	out := []benchBackend{{"soft", testkeys.Soft(b)}}
	out = append(out, benchBackend{"softhsm2", testkeys.SoftHSM(b)})
	return out
}
