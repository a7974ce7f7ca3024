package conformance

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"golang.org/x/oauth2"
)

var lauCheukYiu = person{"E375990(7)", "1999-05-25", "LAU Cheuk Yiu", "LAU Cheuk Yiu"}

// TestCSC_CredentialAuthorizationErrors: the authorization endpoint's
// credential authorizations (CSC API v2 §8.4.2 scope=credential; RFC 9396
// authorization_details) refuse what they must, with error redirects a
// stock client reads (state and iss included), and nothing is signed:
// malformed or foreign authorization details, a client not registered for
// scope credential, prompt=none, a credential that is not the resident's,
// and the resident declining. Discovery lists the type.
func TestCSC_CredentialAuthorizationErrors(t *testing.T) {
	needBrowser(t)
	srv := ownServer(t)
	if types, _ := discovery(t, srv)["authorization_details_types_supported"].([]any); !slices.Contains(types, any("credential")) {
		t.Fatalf("discovery authorization_details_types_supported = %v", types)
	}
	tb := newTab(t, srv.URL)
	tb.addAuthenticator()
	tb.register(lauCheukYiu)
	runCLI(t, srv, "residents", "set-level", "--id-number", lauCheukYiu.IDNumber, "--level", "high")
	tb.enrolCertificate()
	dept := newRP(t, srv, "127.0.0.1", map[string]any{"client_name": "Lands Department", "scope": "openid service credential"})
	svc := dept.serviceToken(tb)
	_, list := cscCall(t, srv, svc, "credentials/list", map[string]any{})
	credID := list["credentialIDs"].([]any)[0].(string)
	digest := sha([]byte("a lease"))
	details := func(d map[string]any) string {
		base := map[string]any{"type": "credential", "credentialID": credID, "hashAlgorithmOID": sha256OID,
			"documentDigests": []any{map[string]any{"hash": b64(digest), "label": "Lease"}}}
		for k, v := range d {
			base[k] = v
		}
		raw, _ := json.Marshal([]any{base})
		return string(raw)
	}
	errorFor := func(r *rp, opts ...oauth2.AuthCodeOption) (string, string) {
		t.Helper()
		u, a := r.authURL(opts...)
		tb.visit(u)
		q := r.callback(tb, a)
		if q.Get("code") != "" {
			t.Fatalf("a code was issued: %v", q)
		}
		return q.Get("error"), q.Get("error_description")
	}
	scope := oauth2.SetAuthURLParam("scope", "openid credential")
	for _, tc := range []struct {
		name, details, want string
	}{
		{"not JSON", "{", "invalid_authorization_details"},
		{"another type", details(map[string]any{"type": "payment_initiation"}), "invalid_authorization_details"},
		{"a digest that is not base64", details(map[string]any{"documentDigests": []any{map[string]any{"hash": "***", "label": "x"}}}), "invalid_authorization_details"},
		{"a 31-byte digest", details(map[string]any{"documentDigests": []any{map[string]any{"hash": b64(digest[:31]), "label": "x"}}}), "invalid_request"},
		{"MD5", details(map[string]any{"hashAlgorithmOID": "1.2.840.113549.2.5"}), "invalid_request"},
		{"an unknown credential", details(map[string]any{"credentialID": "no-such-credential"}), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, desc := errorFor(dept, scope, oauth2.SetAuthURLParam("authorization_details", tc.details)); got != tc.want {
				t.Fatalf("error %q (%s), want %q", got, desc, tc.want)
			}
		})
	}
	t.Run("prompt=none", func(t *testing.T) {
		if got, _ := errorFor(dept, scope, oauth2.SetAuthURLParam("authorization_details", details(nil)), oauth2.SetAuthURLParam("prompt", "none")); got != "interaction_required" {
			t.Fatalf("error %q, want interaction_required", got)
		}
	})
	t.Run("a client without scope credential", func(t *testing.T) {
		other := newRP(t, srv, "127.0.0.1", map[string]any{"client_name": "Library", "scope": "openid service"})
		if got, _ := errorFor(other, scope, oauth2.SetAuthURLParam("authorization_details", details(nil))); got != "invalid_scope" {
			t.Fatalf("error %q, want invalid_scope", got)
		}
	})
	t.Run("the resident declines", func(t *testing.T) {
		u, a := dept.authURL(scope, oauth2.SetAuthURLParam("authorization_details", details(nil)))
		tb.visit(u)
		tb.waitPath("/sign")
		tb.click("#sign-deny")
		q := dept.callback(tb, a)
		if q.Get("error") != "access_denied" || q.Get("code") != "" {
			t.Fatalf("after declining: %v", q)
		}
	})
	// Nothing was signed: the history is empty.
	tb.navigate("/account/signing")
	if n := eval[int](tb, `document.querySelectorAll("#history li").length`); n != 0 {
		t.Fatalf("%d signatures in the history", n)
	}
	if status, _ := cscCall(t, srv, svc, "signatures/signHash", map[string]any{"credentialID": credID, "hashes": []string{b64(digest)},
		"hashAlgorithmOID": sha256OID, "signAlgo": ecdsaSHA256OID}); status != http.StatusBadRequest {
		t.Fatalf("signHash without SAD or credential token: %d", status)
	}
}
