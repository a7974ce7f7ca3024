package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"eidp/idp/admin"
	"eidp/idp/client"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

// Test tokens the fake Authorize understands. The real token check (token
// endpoint, scope eidp:admin) is tested end to end by the provider.
const (
	adminToken    = "admin-token"     // the admin client
	nonAdminToken = "non-admin-token" // a valid token of a client that is not an admin
	lyingToken    = "lying-token"     // Authorize wrongly lets a non-admin client through
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type env struct {
	t       *testing.T
	url     string
	store   *client.Store
	adminID string
	userID  string
	logs    *syncBuffer
}

// newEnv starts the API on a fresh store with an admin client and an
// ordinary one; configure changes the Handler before it serves.
func newEnv(t *testing.T, d *db.DB, configure ...func(*admin.Handler)) *env {
	t.Helper()
	ctx := context.Background()
	store := client.NewStore(d, client.Options{Production: true})
	ops, _, err := store.Create(ctx, client.Client{
		ClientName: "Operations tooling", GrantTypes: []string{client.GrantClientCredentials},
		Admin: true, Scope: client.ScopeAdmin,
	})
	if err != nil {
		t.Fatal(err)
	}
	user, _, err := store.Create(ctx, webClient())
	if err != nil {
		t.Fatal(err)
	}
	authorize := func(r *http.Request) (client.Client, error) {
		switch r.Header.Get("Authorization") {
		case "Bearer " + adminToken:
			return store.Get(r.Context(), ops.ClientID)
		case "Bearer " + nonAdminToken:
			return client.Client{}, fmt.Errorf("%w: %s lacks scope %s", admin.ErrForbidden, user.ClientID, client.ScopeAdmin)
		case "Bearer " + lyingToken:
			return store.Get(r.Context(), user.ClientID)
		}
		return client.Client{}, errors.New("test: unknown token")
	}
	logs := &syncBuffer{}
	h := admin.New(store, authorize, slog.New(slog.NewJSONHandler(logs, nil)))
	for _, f := range configure {
		f(h)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, store: store, adminID: ops.ClientID, userID: user.ClientID, logs: logs}
}

func webClient() client.Client {
	return client.Client{
		ClientName:   "Tax Department e-Filing",
		RedirectURIs: []string{"https://tax.example.gov/callback"},
	}
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object (%d): %v\n%s", r.status, err, r.body)
	}
	return m
}

// wantError checks an error response's status, code and description.
func (r response) wantError(t *testing.T, status int, code, descPrefix string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["error"] != code {
		t.Fatalf("error %v, want %s: %s", m["error"], code, r.body)
	}
	if d, _ := m["error_description"].(string); !strings.HasPrefix(d, descPrefix) {
		t.Fatalf("error_description %q, want it to start with %q", d, descPrefix)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("an error response without Cache-Control: no-store")
	}
}

// call sends a request with the token ("" for none) and a JSON body ("" for none).
func (e *env) call(method, path, token, body string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// count is the number of registered clients.
func (e *env) count() int {
	e.t.Helper()
	all, err := e.store.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(all)
}

// create registers a client through the API and returns its response.
func (e *env) create(body string) map[string]any {
	e.t.Helper()
	r := e.call("POST", "/admin/clients", adminToken, body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

const taxClient = `{
	"client_name": "Tax Department e-Filing",
	"client_name#zh-Hant": "稅務局電子報稅",
	"eidp_purpose": "To file your salaries tax return.",
	"logo_uri": "https://tax.example.gov/logo.svg",
	"redirect_uris": ["https://tax.example.gov/cb"],
	"scope": "openid profile"
}`

func TestAdminAPI(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()

		t.Run("create answers 201 with the metadata and a secret shown once that verifies", func(t *testing.T) {
			e := newEnv(t, d)
			r := e.call("POST", "/admin/clients", adminToken, taxClient)
			if r.status != http.StatusCreated || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
			}
			m := r.json(t)
			id, _ := m["client_id"].(string)
			secret, _ := m["client_secret"].(string)
			if id == "" || secret == "" || m["client_secret_expires_at"] != float64(0) ||
				m["client_name#zh-Hant"] != "稅務局電子報稅" || m["logo_uri"] != "https://tax.example.gov/logo.svg" ||
				m["token_endpoint_auth_method"] != client.AuthClientSecretBasic || m["subject_type"] != client.SubjectPairwise {
				t.Fatalf("create answered %s", r.body)
			}
			if loc := r.header.Get("Location"); loc != "/admin/clients/"+id {
				t.Errorf("Location %q", loc)
			}
			stored, err := e.store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if m["client_id_issued_at"] != float64(stored.CreatedAt.Unix()) {
				t.Errorf("client_id_issued_at %v, want %d", m["client_id_issued_at"], stored.CreatedAt.Unix())
			}
			if strings.Contains(string(r.body), stored.ClientSecretHash) || strings.Contains(string(r.body), "hash") {
				t.Fatalf("the response holds the secret's hash: %s", r.body)
			}
			if _, err := e.store.VerifySecret(ctx, id, secret); err != nil {
				t.Fatalf("the secret in the response does not verify: %v", err)
			}
			// Never again: not when read, not when listed.
			for _, path := range []string{"/admin/clients/" + id, "/admin/clients"} {
				r := e.call("GET", path, adminToken, "")
				if r.status != http.StatusOK || strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), "client_secret\"") ||
					strings.Contains(string(r.body), stored.ClientSecretHash) {
					t.Fatalf("GET %s: %d %s", path, r.status, r.body)
				}
			}
			if strings.Contains(e.logs.String(), secret) || strings.Contains(e.logs.String(), stored.ClientSecretHash) {
				t.Fatalf("the secret or its hash is in the log:\n%s", e.logs)
			}
		})

		t.Run("a requested client_id is kept, a taken one is 409, and a client without a secret gets none", func(t *testing.T) {
			e := newEnv(t, d)
			m := e.create(`{"client_id":"hk-bank.kyc","client_name":"Bank KYC","redirect_uris":["https://bank.example.com/cb"],
				"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://bank.example.com/jwks"}`)
			if m["client_id"] != "hk-bank.kyc" || m["client_secret"] != nil || m["client_secret_expires_at"] != nil {
				t.Fatalf("create answered %v", m)
			}
			before := e.count()
			e.call("POST", "/admin/clients", adminToken, `{"client_id":"hk-bank.kyc","client_name":"Another","redirect_uris":["https://x.example.com/cb"]}`).
				wantError(t, http.StatusConflict, client.CodeInvalidClientMetadata, "client_id: ")
			if e.count() != before {
				t.Fatal("a refused create stored a client")
			}
			got, _ := e.store.Get(ctx, "hk-bank.kyc")
			if got.ClientName != "Bank KYC" {
				t.Fatalf("a refused create changed the existing client: %+v", got)
			}
		})

		t.Run("get and list show the stored clients", func(t *testing.T) {
			e := newEnv(t, d)
			id := e.create(taxClient)["client_id"].(string)
			r := e.call("GET", "/admin/clients/"+id, adminToken, "")
			if m := r.json(t); r.status != http.StatusOK || m["client_id"] != id || m["eidp_purpose"] != "To file your salaries tax return." ||
				m["client_id_issued_at"] == nil || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("get: %d %s", r.status, r.body)
			}
			r = e.call("GET", "/admin/clients", adminToken, "")
			var list struct {
				Clients []map[string]any `json:"clients"`
			}
			if err := json.Unmarshal(r.body, &list); err != nil || r.status != http.StatusOK {
				t.Fatalf("list: %d %v %s", r.status, err, r.body)
			}
			var ids []string
			for _, c := range list.Clients {
				ids = append(ids, c["client_id"].(string))
			}
			// Every client (the database is shared by the subtests), oldest
			// first: the two clients of newEnv, then this one, last.
			if len(ids) != e.count() || len(ids) < 3 || strings.Join(ids[len(ids)-3:], " ") != strings.Join([]string{e.adminID, e.userID, id}, " ") {
				t.Fatalf("list has %v", ids)
			}
		})

		t.Run("put replaces the metadata, keeps the secret, and a mismatched client_id changes nothing", func(t *testing.T) {
			e := newEnv(t, d)
			m := e.create(taxClient)
			id, secret := m["client_id"].(string), m["client_secret"].(string)
			r := e.call("PUT", "/admin/clients/"+id, adminToken, `{"client_id":"`+id+`","client_name":"Inland Revenue e-Tax",
				"redirect_uris":["https://tax.example.gov/cb2"]}`)
			if r.status != http.StatusOK {
				t.Fatalf("put: %d %s", r.status, r.body)
			}
			got := r.json(t)
			// RFC 7592 §2.2: left-out fields take their defaults.
			if got["client_name"] != "Inland Revenue e-Tax" || got["scope"] != "openid" || got["logo_uri"] != nil ||
				got["eidp_purpose"] != nil || got["client_secret"] != nil {
				t.Fatalf("put answered %s", r.body)
			}
			if _, err := e.store.VerifySecret(ctx, id, secret); err != nil {
				t.Fatalf("put lost the secret: %v", err)
			}
			// Without client_id in the body it is taken from the path.
			if r := e.call("PUT", "/admin/clients/"+id, adminToken, `{"client_name":"IRD","redirect_uris":["https://tax.example.gov/cb2"]}`); r.status != http.StatusOK {
				t.Fatalf("put without client_id: %d %s", r.status, r.body)
			}

			before, _ := e.store.Get(ctx, id)
			e.call("PUT", "/admin/clients/"+id, adminToken, `{"client_id":"`+e.userID+`","client_name":"Hijack","redirect_uris":["https://evil.example/cb"]}`).
				wantError(t, http.StatusBadRequest, client.CodeInvalidClientMetadata, "client_id: ")
			for _, cid := range []string{id, e.userID} {
				after, _ := e.store.Get(ctx, cid)
				if after.ClientName == "Hijack" {
					t.Fatalf("a mismatched PUT changed %s", cid)
				}
			}
			if after, _ := e.store.Get(ctx, id); !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatal("a mismatched PUT touched the client")
			}
			e.call("PUT", "/admin/clients/no-such-client", adminToken, `{"client_name":"x","redirect_uris":["https://x.example/cb"]}`).
				wantError(t, http.StatusNotFound, admin.CodeNotFound, "")
		})

		t.Run("put that makes a client use a secret answers the new secret once", func(t *testing.T) {
			e := newEnv(t, d)
			id := e.create(`{"client_name":"Bank","redirect_uris":["https://bank.example.com/cb"],
				"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://bank.example.com/jwks"}`)["client_id"].(string)
			r := e.call("PUT", "/admin/clients/"+id, adminToken, `{"client_name":"Bank","redirect_uris":["https://bank.example.com/cb"],
				"token_endpoint_auth_method":"client_secret_post"}`)
			secret, _ := r.json(t)["client_secret"].(string)
			if r.status != http.StatusOK || secret == "" {
				t.Fatalf("put: %d %s", r.status, r.body)
			}
			if _, err := e.store.VerifySecret(ctx, id, secret); err != nil {
				t.Fatalf("the issued secret does not verify: %v", err)
			}
		})

		t.Run("delete answers 204, then the client is gone", func(t *testing.T) {
			e := newEnv(t, d)
			id := e.create(taxClient)["client_id"].(string)
			r := e.call("DELETE", "/admin/clients/"+id, adminToken, "")
			if r.status != http.StatusNoContent || len(r.body) != 0 || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("delete: %d %v %s", r.status, r.header, r.body)
			}
			e.call("GET", "/admin/clients/"+id, adminToken, "").wantError(t, http.StatusNotFound, admin.CodeNotFound, "no client")
			e.call("DELETE", "/admin/clients/"+id, adminToken, "").wantError(t, http.StatusNotFound, admin.CodeNotFound, "no client")
			if _, err := e.store.Get(ctx, id); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("still stored: %v", err)
			}
		})

		t.Run("rotating the secret answers a new one once and the old one stops working", func(t *testing.T) {
			e := newEnv(t, d)
			m := e.create(taxClient)
			id, old := m["client_id"].(string), m["client_secret"].(string)
			r := e.call("POST", "/admin/clients/"+id+"/secret", adminToken, "")
			got := r.json(t)
			fresh, _ := got["client_secret"].(string)
			if r.status != http.StatusOK || got["client_id"] != id || fresh == "" || fresh == old ||
				got["client_secret_expires_at"] != float64(0) || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("rotate: %d %s", r.status, r.body)
			}
			if _, err := e.store.VerifySecret(ctx, id, fresh); err != nil {
				t.Fatalf("the new secret does not verify: %v", err)
			}
			if _, err := e.store.VerifySecret(ctx, id, old); !errors.Is(err, client.ErrInvalidClient) {
				t.Fatalf("the old secret still verifies: %v", err)
			}
			if strings.Contains(e.logs.String(), fresh) {
				t.Fatal("the new secret is in the log")
			}

			bank := e.create(`{"client_name":"Bank","redirect_uris":["https://bank.example.com/cb"],
				"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://bank.example.com/jwks"}`)["client_id"].(string)
			e.call("POST", "/admin/clients/"+bank+"/secret", adminToken, "").wantError(t, http.StatusConflict, admin.CodeNoSecret, "")
			e.call("POST", "/admin/clients/no-such-client/secret", adminToken, "").wantError(t, http.StatusNotFound, admin.CodeNotFound, "")
		})

		t.Run("invalid metadata gets 400 naming the field, and nothing is stored", func(t *testing.T) {
			e := newEnv(t, d)
			for _, tt := range []struct {
				name, body, code, field string
			}{
				{"a redirect URI with a fragment", `{"client_name":"x","redirect_uris":["https://a.example/cb#f"]}`, client.CodeInvalidRedirectURI, "redirect_uris[0]: "},
				{"no redirect URI", `{"client_name":"x"}`, client.CodeInvalidRedirectURI, "redirect_uris: "},
				{"an http redirect URI in production", `{"client_name":"x","redirect_uris":["http://localhost/cb"]}`, client.CodeInvalidRedirectURI, "redirect_uris[0]: "},
				{"no name", `{"redirect_uris":["https://a.example/cb"]}`, client.CodeInvalidClientMetadata, "client_name: "},
				{"a logo over http", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"logo_uri":"http://a.example/l.png"}`, client.CodeInvalidClientMetadata, "logo_uri: "},
				{"a purpose too long", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"eidp_purpose":"` + strings.Repeat("p", 301) + `"}`, client.CodeInvalidClientMetadata, "eidp_purpose: "},
				{"a name in French", `{"client_name":"x","client_name#fr":"y","redirect_uris":["https://a.example/cb"]}`, client.CodeInvalidClientMetadata, "client_name#fr: "},
				{"an unknown field", `{"client_name":"x","redirect_uri":["https://a.example/cb"]}`, client.CodeInvalidClientMetadata, "redirect_uri: "},
				{"a client secret", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"client_secret":"hunter2"}`, client.CodeInvalidClientMetadata, "client_secret: "},
				{"an unknown grant", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}`, client.CodeInvalidClientMetadata, "grant_types[0]: "},
				{"the admin scope without admin", `{"client_name":"x","grant_types":["client_credentials"],"scope":"eidp:admin"}`, client.CodeInvalidClientMetadata, "scope: "},
				{"a string for a list", `{"client_name":"x","redirect_uris":"https://a.example/cb"}`, client.CodeInvalidRedirectURI, "redirect_uris: "},
				{"a string for a boolean", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"admin":"yes"}`, client.CodeInvalidClientMetadata, "admin: "},
				{"broken JSON", `{"client_name":`, client.CodeInvalidClientMetadata, "metadata: "},
				{"a JSON array", `[]`, client.CodeInvalidClientMetadata, "metadata: "},
			} {
				t.Run(tt.name, func(t *testing.T) {
					before := e.count()
					r := e.call("POST", "/admin/clients", adminToken, tt.body)
					r.wantError(t, http.StatusBadRequest, tt.code, tt.field)
					if strings.Contains(string(r.body), "hunter2") {
						t.Fatalf("the response repeats the secret: %s", r.body)
					}
					if e.count() != before {
						t.Fatal("refused metadata was stored")
					}
					// The same body as a PUT of an existing client changes nothing.
					old, _ := e.store.Get(ctx, e.userID)
					e.call("PUT", "/admin/clients/"+e.userID, adminToken, tt.body).wantError(t, http.StatusBadRequest, tt.code, tt.field)
					if now, _ := e.store.Get(ctx, e.userID); !now.UpdatedAt.Equal(old.UpdatedAt) {
						t.Fatal("a refused PUT changed the client")
					}
				})
			}
			if strings.Contains(e.logs.String(), "hunter2") {
				t.Fatal("a refused secret is in the log")
			}
		})

		t.Run("every route refuses a missing or bad token with 401 and a non-admin with 403", func(t *testing.T) {
			e := newEnv(t, d)
			target := e.create(taxClient)["client_id"].(string)
			before, _ := e.store.Get(ctx, target)
			routes := []struct{ method, path, body string }{
				{"POST", "/admin/clients", taxClient},
				{"GET", "/admin/clients", ""},
				{"GET", "/admin/clients/" + target, ""},
				{"PUT", "/admin/clients/" + target, `{"client_name":"Hijack","redirect_uris":["https://evil.example/cb"]}`},
				{"DELETE", "/admin/clients/" + target, ""},
				{"POST", "/admin/clients/" + target + "/secret", ""},
			}
			count := e.count()
			for _, rt := range routes {
				name := rt.method + " " + rt.path
				r := e.call(rt.method, rt.path, "", rt.body)
				r.wantError(t, http.StatusUnauthorized, "invalid_token", "")
				// RFC 6750 §3.1: no error code when no credentials were sent.
				if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") || strings.Contains(ch, "error=") {
					t.Errorf("%s without a token: WWW-Authenticate %q", name, ch)
				}
				r = e.call(rt.method, rt.path, "forged", rt.body)
				r.wantError(t, http.StatusUnauthorized, "invalid_token", "")
				if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer error="invalid_token"`) {
					t.Errorf("%s with a bad token: WWW-Authenticate %q", name, ch)
				}
				for _, token := range []string{nonAdminToken, lyingToken} {
					r = e.call(rt.method, rt.path, token, rt.body)
					r.wantError(t, http.StatusForbidden, "insufficient_scope", "")
					if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer error="insufficient_scope"`) || !strings.Contains(ch, client.ScopeAdmin) {
						t.Errorf("%s with %s: WWW-Authenticate %q", name, token, ch)
					}
					if strings.Contains(string(r.body), target) && rt.method == "GET" {
						t.Errorf("%s with %s leaked client data: %s", name, token, r.body)
					}
				}
			}
			after, err := e.store.Get(ctx, target)
			if err != nil || !after.UpdatedAt.Equal(before.UpdatedAt) || after.ClientSecretHash != before.ClientSecretHash || e.count() != count {
				t.Fatalf("refused requests changed something: %v %+v", err, after)
			}
		})

		t.Run("the body must be JSON of at most 64 KiB", func(t *testing.T) {
			e := newEnv(t, d)
			before := e.count()
			for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonp", "application/json; charset"} {
				req, _ := http.NewRequest("POST", e.url+"/admin/clients", strings.NewReader(taxClient))
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				req.Header.Set("Authorization", "Bearer "+adminToken)
				e.do(req).wantError(t, http.StatusUnsupportedMediaType, admin.CodeInvalidRequest, "")
			}
			// A charset parameter is fine.
			req, _ := http.NewRequest("POST", e.url+"/admin/clients", strings.NewReader(taxClient))
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			req.Header.Set("Authorization", "Bearer "+adminToken)
			if r := e.do(req); r.status != http.StatusCreated {
				t.Fatalf("application/json; charset=utf-8: %d %s", r.status, r.body)
			}

			// Valid JSON padded with spaces past the limit, announced or streamed.
			huge := taxClient + strings.Repeat(" ", admin.MaxBodySize)
			e.call("POST", "/admin/clients", adminToken, huge).wantError(t, http.StatusRequestEntityTooLarge, admin.CodeInvalidRequest, "")
			req, _ = http.NewRequest("PUT", e.url+"/admin/clients/"+e.userID, io.MultiReader(strings.NewReader(huge)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+adminToken)
			if req.ContentLength != 0 {
				t.Fatal("the streamed request announces its length")
			}
			e.do(req).wantError(t, http.StatusRequestEntityTooLarge, admin.CodeInvalidRequest, "")
			// Exactly at the limit is read (and here valid).
			atLimit := taxClient + strings.Repeat(" ", admin.MaxBodySize-len(taxClient))
			if r := e.call("POST", "/admin/clients", adminToken, atLimit); r.status != http.StatusCreated {
				t.Fatalf("a body of exactly %d bytes: %d %s", admin.MaxBodySize, r.status, r.body)
			}
			if e.count() != before+2 {
				t.Fatalf("%d clients, want %d", e.count(), before+2)
			}
		})

		t.Run("other methods get a JSON 405 with Allow", func(t *testing.T) {
			e := newEnv(t, d)
			for _, tt := range []struct{ method, path, allow string }{
				{"PATCH", "/admin/clients/" + e.userID, "GET, PUT, DELETE"},
				{"DELETE", "/admin/clients", "GET, POST"},
				{"GET", "/admin/clients/" + e.userID + "/secret", "POST"},
			} {
				r := e.call(tt.method, tt.path, adminToken, "")
				r.wantError(t, http.StatusMethodNotAllowed, admin.CodeInvalidRequest, "method "+tt.method)
				if r.header.Get("Allow") != tt.allow {
					t.Errorf("%s %s: Allow %q", tt.method, tt.path, r.header.Get("Allow"))
				}
			}
		})

		t.Run("every change is logged with the client, the admin client and the action", func(t *testing.T) {
			e := newEnv(t, d)
			m := e.create(taxClient)
			id := m["client_id"].(string)
			e.call("PUT", "/admin/clients/"+id, adminToken, `{"client_name":"IRD","redirect_uris":["https://tax.example.gov/cb"]}`)
			r := e.call("POST", "/admin/clients/"+id+"/secret", adminToken, "")
			fresh := r.json(t)["client_secret"].(string)
			e.call("DELETE", "/admin/clients/"+id, adminToken, "")
			e.call("POST", "/admin/clients", adminToken, `{"client_name":"x"}`) // refused

			var changes, refusals []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				switch rec["msg"] {
				case "admin API: client changed":
					changes = append(changes, rec)
				case "admin API: change refused":
					refusals = append(refusals, rec)
				}
			}
			var actions []string
			for _, c := range changes {
				if c["client_id"] != id || c["admin_client_id"] != e.adminID {
					t.Errorf("log record %v", c)
				}
				actions = append(actions, c["action"].(string))
			}
			if strings.Join(actions, " ") != "create update rotate-secret delete" {
				t.Errorf("logged actions %v", actions)
			}
			if len(refusals) != 1 || refusals[0]["action"] != "create" || refusals[0]["reason"] != "redirect_uris" || refusals[0]["admin_client_id"] != e.adminID {
				t.Errorf("refusals logged: %v", refusals)
			}
			logs := e.logs.String()
			if strings.Contains(logs, m["client_secret"].(string)) || strings.Contains(logs, fresh) {
				t.Fatal("a secret is in the log")
			}
		})

		t.Run("a sector identifier URI is checked when it or the redirect URIs change", func(t *testing.T) {
			var (
				mu      sync.Mutex
				checked []string
			)
			e := newEnv(t, d, func(h *admin.Handler) {
				h.CheckSectorIdentifier = func(_ context.Context, uri string, redirects []string) error {
					mu.Lock()
					defer mu.Unlock()
					checked = append(checked, uri+" "+strings.Join(redirects, ","))
					if strings.Contains(uri, "bad") {
						return errors.New(`"https://evil.example/cb" not in ` + uri)
					}
					return nil
				}
			})
			body := func(sector, redirect string) string {
				return `{"client_name":"x","sector_identifier_uri":"` + sector + `","redirect_uris":["` + redirect + `"]}`
			}
			before := e.count()
			e.call("POST", "/admin/clients", adminToken, body("https://bad.example.gov/s.json", "https://evil.example/cb")).
				wantError(t, http.StatusBadRequest, client.CodeInvalidClientMetadata, "sector_identifier_uri: ")
			if e.count() != before {
				t.Fatal("a client failing the sector check was stored")
			}
			id := e.create(body("https://tax.example.gov/s.json", "https://a.tax.example.gov/cb"))["client_id"].(string)
			if r := e.call("PUT", "/admin/clients/"+id, adminToken, body("https://tax.example.gov/s.json", "https://a.tax.example.gov/cb")); r.status != http.StatusOK {
				t.Fatalf("unchanged put: %d %s", r.status, r.body)
			}
			if r := e.call("PUT", "/admin/clients/"+id, adminToken, body("https://tax.example.gov/s.json", "https://b.tax.example.gov/cb")); r.status != http.StatusOK {
				t.Fatalf("changed put: %d %s", r.status, r.body)
			}
			e.call("PUT", "/admin/clients/"+id, adminToken, body("https://bad.example.gov/s.json", "https://b.tax.example.gov/cb")).
				wantError(t, http.StatusBadRequest, client.CodeInvalidClientMetadata, "sector_identifier_uri: ")
			want := []string{
				"https://bad.example.gov/s.json https://evil.example/cb",
				"https://tax.example.gov/s.json https://a.tax.example.gov/cb",
				"https://tax.example.gov/s.json https://b.tax.example.gov/cb",
				"https://bad.example.gov/s.json https://b.tax.example.gov/cb",
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(checked, "\n") != strings.Join(want, "\n") {
				t.Fatalf("checked:\n%s\nwant:\n%s", strings.Join(checked, "\n"), strings.Join(want, "\n"))
			}
			if got, _ := e.store.Get(ctx, id); got.SectorIdentifierURI != "https://tax.example.gov/s.json" {
				t.Fatalf("a refused sector was stored: %+v", got)
			}
		})
	})
}
