package csc_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/activation"
	"eidp/signing/ca"
	"eidp/signing/csc"
)

func TestInfo(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{Name: "City signing"})
		r := f.call(t, "", "info", nil) // no authentication (CSC §11.1)
		r.wantOK(t)
		if r.str("specs") != csc.Spec || r.str("name") != "City signing" || r.str("oauth2") != issuer || r.str("lang") == "" {
			t.Errorf("info: %s", r.raw)
		}
		methods := r.strings("methods")
		for _, m := range []string{"credentials/list", "credentials/info", "credentials/authorize",
			"signatures/signHash", "signatures/signDoc", "signatures/timestamp"} {
			if !slices.Contains(methods, m) {
				t.Errorf("methods %v lack %s", methods, m)
			}
		}
		if !slices.Equal(r.strings("authType"), []string{"oauth2code"}) {
			t.Errorf("authType %v", r.body["authType"])
		}
		algos, _ := r.body["signAlgorithms"].(map[string]any)["algos"].([]any)
		if !slices.Contains(algos, any("1.2.840.10045.4.3.2")) {
			t.Errorf("signAlgorithms %v lack ecdsa-with-SHA256", r.body["signAlgorithms"])
		}
		formats, _ := r.body["signature_formats"].(map[string]any)["formats"].([]any)
		if !slices.Equal(formats, []any{"C", "P", "J"}) {
			t.Errorf("signature_formats %v", r.body["signature_formats"])
		}
		if !slices.Equal(r.strings("conformance_levels"), []string{"Ades-B-B", "Ades-B-T", "Ades-B-LT"}) {
			t.Errorf("conformance_levels %v", r.body["conformance_levels"])
		}

		// Other verbs and unknown methods get CSC errors.
		resp, err := http.Get(f.srv.URL + csc.Prefix + "info")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("GET info: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
		f.call(t, "", "credentials/extendTransaction", nil).wantError(t, http.StatusNotFound, "invalid_request")
	})
}

// TestAuthentication: the bearer token decides who calls.
func TestAuthentication(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{})
		res := f.resident(t)
		for _, method := range []string{"credentials/list", "credentials/info", "credentials/authorize",
			"signatures/signHash", "signatures/signDoc", "signatures/timestamp"} {
			r := f.call(t, "", method, nil)
			r.wantError(t, http.StatusUnauthorized, "invalid_token")
			if r.header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("%s without a token: WWW-Authenticate %q", method, r.header.Get("WWW-Authenticate"))
			}
			r = f.call(t, "not-a-token", method, nil)
			r.wantError(t, http.StatusUnauthorized, "invalid_token")
			if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s with a bad token: WWW-Authenticate %q", method, r.header.Get("WWW-Authenticate"))
			}
		}
		// A client-credentials token (no resident) is refused.
		clientOnly := f.token("", "", csc.ScopeService)
		f.call(t, clientOnly, "credentials/list", nil).wantError(t, http.StatusForbidden, "access_denied")
		// A credential-scoped token cannot list or authorize: that needs scope service.
		credOnly := f.token(res.id, "grant-x", csc.ScopeCredential)
		for _, method := range []string{"credentials/list", "credentials/info", "credentials/authorize"} {
			r := f.call(t, credOnly, method, map[string]any{"credentialID": res.cert.ID})
			r.wantError(t, http.StatusForbidden, "insufficient_scope")
			if !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="service"`) {
				t.Errorf("%s: WWW-Authenticate %q", method, r.header.Get("WWW-Authenticate"))
			}
		}
		// A body that is not JSON, or not declared as JSON.
		r := f.call(t, res.token, "credentials/list", []byte(`{"onlyValid":`))
		r.wantError(t, http.StatusBadRequest, "invalid_request")
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+csc.Prefix+"credentials/list", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+res.token)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("text/plain body: %d, want 415", resp.StatusCode)
		}
	})
}

func TestCredentialsList(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{})
		a := f.resident(t)
		f.clock.Advance(time.Second) // newest first is by creation time
		renewed := f.issue(t, a.id)  // supersedes (revokes) the first
		b := f.resident(t)

		r := f.call(t, a.token, "credentials/list", nil)
		r.wantOK(t)
		if got := r.strings("credentialIDs"); !slices.Equal(got, []string{renewed.ID, a.cert.ID}) {
			t.Errorf("credentialIDs = %v, want %v (the resident's own, newest first)", got, []string{renewed.ID, a.cert.ID})
		}
		if r.body["credentialInfos"] != nil {
			t.Error("credentialInfos without credentialInfo=true")
		}
		r = f.call(t, a.token, "credentials/list", map[string]any{"onlyValid": true})
		if got := r.strings("credentialIDs"); !slices.Equal(got, []string{renewed.ID}) || r.body["onlyValid"] != true {
			t.Errorf("onlyValid: %s", r.raw)
		}
		r = f.call(t, b.token, "credentials/list", nil)
		if got := r.strings("credentialIDs"); !slices.Equal(got, []string{b.cert.ID}) {
			t.Errorf("resident B sees %v", got)
		}
		// userID is not for user-specific tokens.
		f.call(t, a.token, "credentials/list", map[string]any{"userID": b.id}).wantError(t, http.StatusBadRequest, "invalid_request")

		chain := []*x509.Certificate{renewed.Cert, f.h.Issuing, f.h.Root}
		for _, tc := range []struct {
			certificates string
			want         int
		}{{"", 1}, {"none", 0}, {"single", 1}, {"chain", 3}} {
			r := f.call(t, a.token, "credentials/list", map[string]any{"credentialInfo": true, "certificates": tc.certificates, "certInfo": true, "authInfo": true})
			r.wantOK(t)
			infos, _ := r.body["credentialInfos"].([]any)
			if len(infos) != 2 {
				t.Fatalf("certificates=%q: %d credentialInfos", tc.certificates, len(infos))
			}
			info := infos[0].(map[string]any)
			cert := info["cert"].(map[string]any)
			list, _ := cert["certificates"].([]any)
			if len(list) != tc.want {
				t.Errorf("certificates=%q: %d certificates, want %d", tc.certificates, len(list), tc.want)
			}
			for i, c := range list {
				if der := unb64(t, c.(string)); !chain[i].Equal(mustParse(t, der)) {
					t.Errorf("certificates=%q: certificate %d is not %s", tc.certificates, i, chain[i].Subject)
				}
			}
			if info["credentialID"] != renewed.ID || cert["status"] != ca.StatusValid ||
				cert["serialNumber"] != strings.ToUpper(renewed.Serial.Text(16)) ||
				cert["subjectDN"] != renewed.Cert.Subject.String() || cert["issuerDN"] != f.h.Issuing.Subject.String() ||
				cert["validTo"] != renewed.Cert.NotAfter.UTC().Format("20060102150405Z") {
				t.Errorf("credentialInfo: %v", info)
			}
			if key := info["key"].(map[string]any); key["status"] != "enabled" || key["len"] != float64(256) || key["curve"] != "1.2.840.10045.3.1.7" {
				t.Errorf("key: %v", key)
			}
			if auth, _ := info["auth"].(map[string]any); auth["mode"] != "oauth2code" {
				t.Errorf("auth: %v", info["auth"])
			}
			old := infos[1].(map[string]any)
			if old["cert"].(map[string]any)["status"] != ca.StatusRevoked || old["key"].(map[string]any)["status"] != "disabled" {
				t.Errorf("the superseded credential: %v", old)
			}
		}
		// An unknown certificates value is an error, not silently "none".
		f.call(t, a.token, "credentials/list", map[string]any{"credentialInfo": true, "certificates": "all"}).wantError(t, http.StatusBadRequest, "invalid_request")
	})
}

func mustParse(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCredentialsInfo(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, csc.Options{})
		a, b := f.resident(t), f.resident(t)
		r := f.call(t, a.token, "credentials/info", map[string]any{"credentialID": a.cert.ID, "certificates": "chain"})
		r.wantOK(t)
		if r.str("credentialID") != a.cert.ID || r.str("SCAL") != "2" || r.body["multisign"] != float64(activation.MaxDocuments) {
			t.Errorf("info: %s", r.raw)
		}
		if list := r.body["cert"].(map[string]any)["certificates"].([]any); len(list) != 3 {
			t.Errorf("chain of %d certificates", len(list))
		}
		// Another resident's credential, an unknown one, none: the same answer.
		for name, id := range map[string]any{"another resident's": b.cert.ID, "unknown": "nope", "missing": ""} {
			r := f.call(t, a.token, "credentials/info", map[string]any{"credentialID": id})
			r.wantError(t, http.StatusBadRequest, "invalid_request")
			if strings.Contains(string(r.raw), b.id) {
				t.Errorf("%s credential: the answer names the other resident", name)
			}
		}
		f.call(t, a.token, "credentials/info", map[string]any{"credentialID": a.cert.ID, "certificates": "bogus"}).wantError(t, http.StatusBadRequest, "invalid_request")
	})
}

func TestCredentialsAuthorize(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d, csc.Options{})
		a, b := f.resident(t), f.resident(t)
		d1, d2 := sha("tax return"), sha("annex")

		r := f.call(t, a.token, "credentials/authorize", map[string]any{
			"credentialID": a.cert.ID, "numSignatures": 2, "hashes": []string{b64(d1), b64(d2)},
			"hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "description": "Tax return 2026",
			"documentLabels": []string{"Tax return", "Annex"},
		})
		r.wantOK(t)
		docs := []activation.Document{{Hash: d1}, {Hash: d2}}
		if r.str("SAD") == "" || r.str("verificationCode") != activation.VerificationCode(crypto.SHA256, docs) {
			t.Errorf("authorize: %s (want code %s)", r.raw, activation.VerificationCode(crypto.SHA256, docs))
		}
		if e, _ := r.body["expiresIn"].(float64); e != 600 {
			t.Errorf("expiresIn = %v, want 600 (the request's approval window)", r.body["expiresIn"])
		}
		id, ok := strings.CutPrefix(r.str("approvalURI"), issuer+csc.ApprovalPage+"?id=")
		if !ok {
			t.Fatalf("approvalURI %q", r.str("approvalURI"))
		}
		req, err := f.act.Get(ctx, id)
		if err != nil {
			t.Fatalf("the request behind approvalURI: %v", err)
		}
		if req.ResidentID != a.id || req.CredentialID != a.cert.ID || req.ClientID != clientID || req.State != activation.StatePending ||
			req.Route != activation.RouteExplicit || len(req.Documents) != 2 || req.Documents[1].Label != "Annex" ||
			req.Description != "Tax return 2026" || req.ClientNameZh != "稅務局" {
			t.Errorf("stored request: %+v", req)
		}

		// The answer does not depend on the wall clock: with the service's
		// clock an hour on, expiresIn is still the approval window.
		f.clock.Advance(time.Hour)
		r = f.call(t, a.token, "credentials/authorize", map[string]any{
			"credentialID": a.cert.ID, "numSignatures": 1, "hashes": []string{b64(sha("later"))}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
		})
		if e, _ := r.body["expiresIn"].(float64); e != 600 {
			t.Errorf("expiresIn with the clock an hour on = %v, want 600", r.body["expiresIn"])
		}

		pending := f.count(t, `SELECT COUNT(*) FROM signing_requests`)
		for name, body := range map[string]map[string]any{
			"numSignatures mismatch": {"credentialID": a.cert.ID, "numSignatures": 1, "hashes": []string{b64(d1), b64(d2)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"},
			"a 20-byte SHA-256 hash": {"credentialID": a.cert.ID, "numSignatures": 1, "hashes": []string{b64(d1[:20])}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"},
			"not base64":             {"credentialID": a.cert.ID, "numSignatures": 1, "hashes": []string{"%%%"}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"},
			"SHA-1":                  {"credentialID": a.cert.ID, "numSignatures": 1, "hashes": []string{b64(d1[:20])}, "hashAlgorithmOID": "1.3.14.3.2.26"},
			"unknown algorithm":      {"credentialID": a.cert.ID, "numSignatures": 1, "hashes": []string{b64(d1)}, "hashAlgorithmOID": "1.2.3.4"},
			"no hashes":              {"credentialID": a.cert.ID, "numSignatures": 0, "hashes": []string{}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"},
			"a digest twice":         {"credentialID": a.cert.ID, "numSignatures": 2, "hashes": []string{b64(d1), b64(d1)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"},
			"labels miscounted":      {"credentialID": a.cert.ID, "numSignatures": 1, "hashes": []string{b64(d1)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "documentLabels": []string{"a", "b"}},
			"another's credential":   {"credentialID": b.cert.ID, "numSignatures": 1, "hashes": []string{b64(d1)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"},
		} {
			t.Run(name, func(t *testing.T) {
				f.call(t, a.token, "credentials/authorize", body).wantError(t, http.StatusBadRequest, "invalid_request")
			})
		}
		if err := f.ca.Revoke(ctx, a.cert.ID, ca.ReasonKeyCompromise, "test"); err != nil {
			t.Fatal(err)
		}
		f.call(t, a.token, "credentials/authorize", map[string]any{
			"credentialID": a.cert.ID, "numSignatures": 1, "hashes": []string{b64(d1)}, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
		}).wantError(t, http.StatusBadRequest, "invalid_request")
		if n := f.count(t, `SELECT COUNT(*) FROM signing_requests`); n != pending {
			t.Errorf("refused authorizations stored requests: %d → %d", pending, n)
		}
	})
}
