package conformance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestAdminAPIWithAClientCredentialsToken: operators' tooling manages
// clients through /admin/clients with a bearer token it got from the token
// endpoint (client credentials, scope eidp:admin) as an admin client. A
// department's token, or none, gets nothing.
func TestAdminAPIWithAClientCredentialsToken(t *testing.T) {
	srv := startServer(t, "sqlite:"+t.TempDir()+"/eidp.db")
	adminID, adminSecret := registerClient(t, srv, map[string]any{"client_name": "Operators' tooling",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
		"scope": "eidp:admin", "admin": true})
	deptID, deptSecret := registerClient(t, srv, map[string]any{"client_name": "Department back-end",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic", "scope": "records.read"})
	tokenURL := discovery(t, srv)["token_endpoint"].(string)
	token := func(id, secret string, scopes ...string) string {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tokenURL, Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatalf("client credentials for %s: %v", id, err)
		}
		return tok.AccessToken
	}
	call := func(method, path, bearer, body string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	admin := token(adminID, adminSecret, "eidp:admin")
	status, body, _ := call("POST", "/admin/clients", admin, `{"client_name": "Housing Department",
		"redirect_uris": ["https://housing.example.gov/cb"], "grant_types": ["authorization_code"], "scope": "openid profile"}`)
	var created map[string]any
	if json.Unmarshal([]byte(body), &created); status != http.StatusCreated || created["client_id"] == nil || created["client_secret"] == nil {
		t.Fatalf("POST /admin/clients: %d %s", status, body)
	}
	if status, body, _ := call("GET", "/admin/clients/"+created["client_id"].(string), admin, ""); status != http.StatusOK ||
		!strings.Contains(body, "Housing Department") || strings.Contains(body, "client_secret\"") {
		t.Fatalf("GET the new client: %d %s", status, body)
	}
	// A department's token, a token without the scope, and no token.
	if _, err := (&clientcredentials.Config{ClientID: deptID, ClientSecret: deptSecret, TokenURL: tokenURL,
		Scopes: []string{"eidp:admin"}, AuthStyle: oauth2.AuthStyleInHeader}).Token(context.Background()); err == nil ||
		!strings.Contains(err.Error(), "invalid_scope") {
		t.Fatalf("a department asking for eidp:admin: %v", err)
	}
	if status, _, h := call("GET", "/admin/clients", token(deptID, deptSecret, "records.read"), ""); status != http.StatusForbidden && status != http.StatusUnauthorized ||
		!strings.Contains(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("a department's token at the admin API: %d %v", status, h)
	}
	if status, _, h := call("GET", "/admin/clients", "", ""); status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token at the admin API: %d %v", status, h)
	}
	if status, _, _ := call("GET", "/admin/clients", admin+"x", ""); status != http.StatusUnauthorized {
		t.Fatalf("a forged token at the admin API: %d", status)
	}
	// Revoked: the admin token stops working.
	if st, _ := postForm(t, discovery(t, srv)["revocation_endpoint"].(string), adminID, adminSecret, map[string][]string{"token": {admin}}); st != http.StatusOK {
		t.Fatalf("revocation: %d", st)
	}
	if status, _, _ := call("GET", "/admin/clients", admin, ""); status != http.StatusUnauthorized {
		t.Fatalf("a revoked admin token: %d", status)
	}
}
