package provider_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/hsm/testkeys"
	"eidp/idp/account"
	"eidp/idp/claims"
	"eidp/idp/client"
	"eidp/idp/clientauth"
	"eidp/idp/consent"
	"eidp/idp/grant"
	"eidp/idp/jwks"
	"eidp/idp/logout"
	"eidp/idp/proofing"
	"eidp/idp/provider"
	"eidp/idp/session"
	"eidp/idp/subject"
	"eidp/internal/db"
	"eidp/internal/httpx"
	"eidp/internal/testenv"
	"eidp/vault"
	"eidp/vault/accesslog"
	"eidp/vault/attr"
)

// opFixture is a running OpenID Provider wired as cmd/eidp wires it
// (cmd/eidp/provider.go, serve.go, residents.go): the real stores on a
// migrated database, token-signing keys under the oidc-signing and
// oidc-signing-rsa roles and the vault's key-encryption key under
// vault-kek on a given hsm.KeyManager, the personal-data vault with its
// access log, served over HTTP by httptest behind the request-ID
// middleware. It has one active resident with a live session (and an
// empty vault) and two clients: a confidential web client
// (client_secret_basic, authorization_code + refresh_token, scope "openid
// profile") and a department back-end (client_credentials, scope
// fixtureServiceScope). newVaultClient and fillVault add what releasing
// vault claims needs.
//
// Its request helpers return errors instead of failing the test, so that
// benchmarks can call them from b.RunParallel goroutines.
type opFixture struct {
	URL      string // issuer and base URL of the server
	Provider *provider.Provider
	DB       *db.DB
	Clients  *client.Store
	Consents *consent.Store
	Accounts *account.Store
	Sessions *session.Manager
	// Vault and AccessLog are the provider's Deps.Vault and Deps.AccessLog.
	Vault     *vault.Vault
	AccessLog *accesslog.Log

	Resident account.Resident
	Session  session.Session
	Cookie   *http.Cookie // the session cookie a browser would send

	Web       client.Client // confidential, authorization code + refresh token
	WebSecret string
	Service   client.Client // client credentials
	Secret    string        // Service's secret

	// HTTP is a client for the server that does not follow redirects, so
	// that /authorize's 303 to the redirect_uri can be read.
	HTTP *http.Client
}

const (
	fixtureRedirectURI  = "https://department.example/cb"
	fixtureServiceScope = "records:read"
	fixtureState        = "fixture-state"
)

// fixtureVerifier is a fixed PKCE code_verifier (RFC 7636 §4.1), and
// fixtureChallenge its S256 challenge: the server's work per request is the
// same with a fresh pair, and the client side (which shares the cores with
// the server in a benchmark) does not have to hash each time.
var (
	fixtureVerifier  = strings.Repeat("v", 43)
	fixtureChallenge = s256(fixtureVerifier)
)

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newSoftKeys opens a soft key manager in a temp directory, closed when tb
// ends.

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newOPFixture builds and serves a provider on d (migrated) with signing
// keys created on km. opts.Issuer is set to the server's URL; the other
// options are passed as given (benchmarks set TokenRateLimit 0, which turns
// the per-address limit off). Everything is closed when tb ends.
func newOPFixture(tb testing.TB, d *db.DB, km hsm.KeyManager, opts provider.Options) *opFixture {
	tb.Helper()
	return newOPFixtureWith(tb, d, km, opts, vault.Options{})
}

// newOPFixtureWith is newOPFixture with the vault's options (cache size
// and lifetime); SchemaVersion is set to attr.SchemaVersion as `eidp
// serve` sets it.
func newOPFixtureWith(tb testing.TB, d *db.DB, km hsm.KeyManager, opts provider.Options, vopts vault.Options) *opFixture {
	tb.Helper()
	ctx := context.Background()
	mux := http.NewServeMux()
	// cmd/eidp/serve.go gives every request an ID, which the access log
	// records.
	srv := httptest.NewServer(httpx.Chain(mux, httpx.RequestID()))
	tb.Cleanup(srv.Close)
	issuer := srv.URL

	// Keys as `eidp serve` makes them: one key per role, one jwks.Set per
	// role, combined (ES256 first); the vault's KEK on the same backend.
	ring := keyring.New(d, km)
	for _, role := range []keyring.Role{keyring.OIDCSigning, keyring.OIDCSigningRSA, keyring.VaultKEK} {
		if _, _, err := ring.Ensure(ctx, role); err != nil {
			tb.Fatalf("keyring.Ensure(%s): %v", role, err)
		}
	}
	vopts.SchemaVersion = attr.SchemaVersion
	vlt := vault.New(d, ring, km, vopts)
	accessLog := accesslog.New(d)
	keys := jwks.NewKeys(jwks.New(ring, km, jwks.Options{}),
		jwks.New(ring, km, jwks.Options{Role: keyring.OIDCSigningRSA}))
	if err := keys.Refresh(ctx); err != nil {
		tb.Fatalf("jwks refresh: %v", err)
	}

	subjects, err := subject.NewPairwise(randomBytes(subject.MinSecretLen))
	if err != nil {
		tb.Fatalf("subject.NewPairwise: %v", err)
	}
	clients := client.NewStore(d, client.Options{})
	auth := clientauth.New(d, clients, clientauth.Options{
		Issuer: issuer,
		Audiences: []string{issuer + provider.PathToken, issuer + provider.PathPAR,
			issuer + provider.PathIntrospect, issuer + provider.PathRevoke},
	})
	var prov *provider.Provider
	notifier := logout.New(d, clients, func(ctx context.Context, alg, typ string, claims map[string]any) (string, error) {
		return prov.SignLogoutToken(ctx, alg, typ, claims)
	}, logout.Options{Issuer: issuer})
	sessions := session.NewManager(d, session.Options{
		OnEnd: func(ctx context.Context, residentID string, ids []string) error {
			return prov.SessionsEnded(ctx, residentID, ids)
		},
	})
	accounts := account.NewStore(d)
	consents := consent.NewStore(d)
	opts.Issuer = issuer
	prov, err = provider.New(provider.Deps{
		Clients: clients, ClientAuth: auth, Grants: grant.NewStore(d), ConsentStore: consents,
		Accounts: accounts, Sessions: sessions, Keys: keys, Subjects: subjects, Logout: notifier,
		ErrorPage: func(w http.ResponseWriter, _ *http.Request, status int, code, description string) {
			http.Error(w, code+": "+description, status)
		},
		Vault: vlt, AccessLog: accessLog,
		// cmd/eidp passes web.Language; the fixture's requests ask for no language.
		Language: func(*http.Request) string { return "en" },
	}, opts)
	if err != nil {
		tb.Fatalf("provider.New: %v", err)
	}
	prov.Register(mux)

	fx := &opFixture{URL: issuer, Provider: prov, DB: d, Clients: clients, Consents: consents,
		Accounts: accounts, Sessions: sessions, Vault: vlt, AccessLog: accessLog}
	fx.HTTP = srv.Client()
	if tr, ok := fx.HTTP.Transport.(*http.Transport); ok {
		// One kept-alive connection per parallel client goroutine.
		tr.MaxIdleConnsPerHost = 64
	}
	fx.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	fx.Resident, fx.Session, fx.Cookie = fx.newResident(tb, "A1234563")

	fx.Web, fx.WebSecret, err = clients.Create(ctx, client.Client{
		ClientName:              "Fixture department",
		RedirectURIs:            []string{fixtureRedirectURI},
		GrantTypes:              []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		ResponseTypes:           []string{client.ResponseTypeCode},
		TokenEndpointAuthMethod: client.AuthClientSecretBasic,
		Scope:                   "openid profile",
	})
	if err != nil {
		tb.Fatalf("create web client: %v", err)
	}
	fx.Service, fx.Secret, err = clients.Create(ctx, client.Client{
		ClientName:              "Fixture back-end",
		GrantTypes:              []string{client.GrantClientCredentials},
		TokenEndpointAuthMethod: client.AuthClientSecretBasic,
		Scope:                   fixtureServiceScope,
	})
	if err != nil {
		tb.Fatalf("create client-credentials client: %v", err)
	}
	return fx
}

// consentToWeb records the resident's consent to the web client's
// "openid profile" with every profile claim, as the consent page's Approve
// would: /authorize then answers with a code at once.
func (fx *opFixture) consentToWeb(tb testing.TB) {
	tb.Helper()
	_, err := fx.Consents.Save(context.Background(), consent.Consent{ResidentID: fx.Resident.ID,
		ClientID: fx.Web.ClientID, Scopes: []string{"openid", "profile"}, Claims: claims.ScopeClaims(claims.ScopeProfile)})
	if err != nil {
		tb.Fatalf("consent.Save: %v", err)
	}
}

// newResident registers an active resident (the fixture's profile under
// another identity-card number) and logs them in: a session at the
// substantial level after a passkey login, and the cookie a browser would
// send with it.
func (fx *opFixture) newResident(tb testing.TB, idNumber string) (account.Resident, session.Session, *http.Cookie) {
	tb.Helper()
	ctx := context.Background()
	r, err := fx.Accounts.Create(ctx, account.Profile{
		IDNumber: idNumber, Surname: "Chan", GivenNames: "Tai Man",
		NameZH: "陳大文", BirthDate: "1990-01-01", Gender: "M",
	}, string(proofing.Substantial))
	if err != nil {
		tb.Fatalf("account.Create: %v", err)
	}
	rec := httptest.NewRecorder()
	sess, err := fx.Sessions.Create(ctx, rec, r.ID, proofing.Substantial.ACR(), session.AMRForPasskey(false), "fixture")
	if err != nil {
		tb.Fatalf("session.Create: %v", err)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.DefaultCookieName {
			return r, sess, c
		}
	}
	tb.Fatal("session.Create set no session cookie")
	return account.Resident{}, session.Session{}, nil
}

// authorize sends the browser's GET /authorize for the web client with the
// session cookie and returns the code from the 303 to the redirect URI.
func (fx *opFixture) authorize(ctx context.Context, nonce string) (string, error) {
	return fx.authorizeFor(ctx, authzRequest{ClientID: fx.Web.ClientID, Cookie: fx.Cookie, Scope: "openid profile", Nonce: nonce})
}

// authzRequest is an authorization request of a fixture client on behalf
// of a logged-in resident.
type authzRequest struct {
	ClientID string
	Cookie   *http.Cookie // the resident's session
	Scope    string
	Claims   string // the claims parameter (OIDC Core §5.5), if any
	Nonce    string
}

// authorizeFor sends the browser's GET /authorize for ar and returns the
// code from the 303 to the redirect URI (fixtureRedirectURI, which every
// fixture client registers).
func (fx *opFixture) authorizeFor(ctx context.Context, ar authzRequest) (string, error) {
	q := url.Values{
		"client_id": {ar.ClientID}, "redirect_uri": {fixtureRedirectURI}, "response_type": {"code"},
		"scope": {ar.Scope}, "state": {fixtureState}, "nonce": {ar.Nonce},
		"code_challenge": {fixtureChallenge}, "code_challenge_method": {"S256"},
	}
	if ar.Claims != "" {
		q.Set("claims", ar.Claims)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fx.URL+provider.PathAuthorize+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.AddCookie(ar.Cookie)
	resp, err := fx.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("authorize: status %d, want 303: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("authorize: Location: %w", err)
	}
	back := loc.Query()
	switch {
	case loc.Scheme+"://"+loc.Host+loc.Path != fixtureRedirectURI:
		return "", fmt.Errorf("authorize: redirected to %s, not to the client", loc.Redacted())
	case back.Get("error") != "":
		return "", fmt.Errorf("authorize: %s: %s", back.Get("error"), back.Get("error_description"))
	case back.Get("code") == "":
		return "", errors.New("authorize: no code in the redirect")
	case back.Get("state") != fixtureState || back.Get("iss") != fx.URL:
		return "", fmt.Errorf("authorize: state %q, iss %q in the redirect", back.Get("state"), back.Get("iss"))
	}
	return back.Get("code"), nil
}

// tokenResponse is RFC 6749 §5.1's body (OIDC Core §3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
}

// post sends a form with HTTP Basic client authentication (RFC 6749
// §2.3.1: id and secret form-encoded first) and decodes a 200 JSON answer
// into out.
func (fx *opFixture) post(ctx context.Context, path, id, secret string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fx.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return fx.do(req, out)
}

func (fx *opFixture) do(req *http.Request, out any) error {
	resp, err := fx.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// exchange redeems a code at the token endpoint as the web client.
func (fx *opFixture) exchange(ctx context.Context, code string) (tokenResponse, error) {
	return fx.exchangeFor(ctx, fx.Web.ClientID, fx.WebSecret, code)
}

// exchangeFor redeems a code at the token endpoint as client id.
func (fx *opFixture) exchangeFor(ctx context.Context, id, secret, code string) (tokenResponse, error) {
	var tr tokenResponse
	err := fx.post(ctx, provider.PathToken, id, secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {fixtureRedirectURI},
		"code_verifier": {fixtureVerifier},
	}, &tr)
	if err == nil && (tr.AccessToken == "" || tr.IDToken == "") {
		err = errors.New("token: the code exchange returned no access or ID token")
	}
	return tr, err
}

// clientCredentials gets the back-end client's own access token.
func (fx *opFixture) clientCredentials(ctx context.Context) (tokenResponse, error) {
	var tr tokenResponse
	err := fx.post(ctx, provider.PathToken, fx.Service.ClientID, fx.Secret, url.Values{
		"grant_type": {"client_credentials"}, "scope": {fixtureServiceScope},
	}, &tr)
	if err == nil && tr.AccessToken == "" {
		err = errors.New("token: client credentials returned no access token")
	}
	return tr, err
}

// userinfo calls the UserInfo endpoint with a bearer token.
func (fx *opFixture) userinfo(ctx context.Context, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fx.URL+provider.PathUserinfo, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	var out map[string]any
	err = fx.do(req, &out)
	return out, err
}

// introspect asks about token as the web client (RFC 7662).
func (fx *opFixture) introspect(ctx context.Context, token string) (map[string]any, error) {
	var out map[string]any
	err := fx.post(ctx, provider.PathIntrospect, fx.Web.ClientID, fx.WebSecret, url.Values{"token": {token}}, &out)
	return out, err
}

// codeFlowTokens runs authorize and exchange once.
func (fx *opFixture) codeFlowTokens(tb testing.TB) tokenResponse {
	tb.Helper()
	code, err := fx.authorize(context.Background(), "fixture-nonce")
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := fx.exchange(context.Background(), code)
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

// fixtureVaultScope is what a department that needs the resident's
// contact details asks for: each scope releases one vault attribute
// (vault/attr: address → residential_address, phone → mobile_phone, email,
// eidp:occupation, eidp:emergency_contact).
const fixtureVaultScope = "openid address phone email eidp:occupation eidp:emergency_contact"

// newVaultClient registers a confidential authorization-code client that
// may ask for profile and the scopes of fixtureVaultScope.
func (fx *opFixture) newVaultClient(tb testing.TB, name string) (client.Client, string) {
	tb.Helper()
	c, secret, err := fx.Clients.Create(context.Background(), client.Client{
		ClientName:              name,
		RedirectURIs:            []string{fixtureRedirectURI},
		GrantTypes:              []string{client.GrantAuthorizationCode},
		ResponseTypes:           []string{client.ResponseTypeCode},
		TokenEndpointAuthMethod: client.AuthClientSecretBasic,
		Scope:                   "openid profile " + strings.TrimPrefix(fixtureVaultScope, "openid "),
	})
	if err != nil {
		tb.Fatalf("create vault client: %v", err)
	}
	return c, secret
}

// fixtureVaultValues are the raw values, as a resident types them, that
// fillVault validates and stores: a structured Hong Kong address, a mobile
// number with a space, an email address, an occupation and an emergency
// contact.
var fixtureVaultValues = map[attr.Name]string{
	attr.ResidentialAddress: `{"flat":"12B","floor":"12","block":"3","building":"Harbour View Gardens",` +
		`"street_number":"88","street":"Gloucester Road","district":"wan-chai"}`,
	attr.MobilePhone:      `"9123 4567"`,
	attr.Email:            `"mei.ling.chan@example.hk"`,
	attr.Occupation:       `"Registered nurse"`,
	attr.EmergencyContact: `{"name":"Chan Siu Ming","relationship":"spouse","phone":"2345 6789"}`,
}

// fillVault stores fixtureVaultValues in the resident's vault as the
// resident's own entries (source "resident", not verified), each checked
// and normalised by attr.Validate as the My data pages do, and returns
// them as stored.
func (fx *opFixture) fillVault(tb testing.TB, residentID string) map[attr.Name]vault.Attribute {
	tb.Helper()
	out := map[attr.Name]vault.Attribute{}
	for name, raw := range fixtureVaultValues {
		value, err := attr.Validate(name, json.RawMessage(raw))
		if err != nil {
			tb.Fatalf("attr.Validate(%s): %v", name, err)
		}
		a, err := fx.Vault.Put(context.Background(), residentID, string(name), value, vault.Provenance{Source: "resident"}, 0)
		if err != nil {
			tb.Fatalf("vault.Put(%s): %v", name, err)
		}
		out[name] = a
	}
	return out
}

// consentTo records a resident's consent to client c for scopes and
// claims, as the consent page's Approve would.
func (fx *opFixture) consentTo(tb testing.TB, residentID, clientID string, scopes, claimNames []string) consent.Consent {
	tb.Helper()
	cons, err := fx.Consents.Save(context.Background(), consent.Consent{ResidentID: residentID, ClientID: clientID,
		Scopes: scopes, Claims: claimNames})
	if err != nil {
		tb.Fatalf("consent.Save: %v", err)
	}
	return cons
}

// verifyIDToken checks an ID token's signature against the keys published
// at the jwks_uri and returns its claims.
func (fx *opFixture) verifyIDToken(tb testing.TB, raw string) map[string]any {
	tb.Helper()
	var set jose.JSONWebKeySet
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, fx.URL+provider.PathJWKS, nil)
	if err := fx.do(req, &set); err != nil {
		tb.Fatal(err)
	}
	idt, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		tb.Fatalf("ID token: %v", err)
	}
	var out map[string]any
	if err := idt.Claims(set, &out); err != nil {
		tb.Fatalf("ID token does not verify with the published keys: %v", err)
	}
	return out
}

// TestFixtureCodeFlow runs the fixture's authorization code flow once on
// each engine — authorize with the session and a saved consent, the code
// exchange, userinfo, introspection, client credentials — and checks what
// a relying party would: the redirect, the ID token's signature (against
// /jwks) and claims, the pairwise subject agreeing across ID token,
// userinfo and introspection, and the single use of the code.
func TestFixtureCodeFlow(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		fx := newOPFixture(t, d, testkeys.Soft(t), provider.Options{})

		// Without consent /authorize sends the resident to the consent page.
		if _, err := fx.authorize(ctx, "n"); err == nil || !strings.Contains(err.Error(), provider.PathConsent+"?id=") {
			t.Fatalf("authorize before consent: %v; want a redirect to the consent page", err)
		}
		fx.consentToWeb(t)

		nonce := base64.RawURLEncoding.EncodeToString(randomBytes(16))
		code, err := fx.authorize(ctx, nonce)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := fx.exchange(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if tr.TokenType != "Bearer" || tr.RefreshToken == "" || tr.ExpiresIn <= 0 || tr.Scope != "openid profile" {
			t.Errorf("token response: type %q, refresh token set %t, expires_in %d, scope %q",
				tr.TokenType, tr.RefreshToken != "", tr.ExpiresIn, tr.Scope)
		}

		// The ID token as a relying party checks it: signature by a key
		// published at the jwks_uri, issuer, audience, nonce, at_hash, acr.
		var set jose.JSONWebKeySet
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fx.URL+provider.PathJWKS, nil)
		if err := fx.do(req, &set); err != nil {
			t.Fatal(err)
		}
		idt, err := jwt.ParseSigned(tr.IDToken, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		var std jwt.Claims
		var extra struct {
			Nonce     string `json:"nonce"`
			ATHash    string `json:"at_hash"`
			ACR       string `json:"acr"`
			GivenName string `json:"given_name"`
		}
		if err := idt.Claims(set, &std, &extra); err != nil {
			t.Fatalf("ID token does not verify with the published keys: %v", err)
		}
		if err := std.Validate(jwt.Expected{Issuer: fx.URL, AnyAudience: jwt.Audience{fx.Web.ClientID}, Time: time.Now()}); err != nil {
			t.Errorf("ID token claims: %v", err)
		}
		sum := sha256.Sum256([]byte(tr.AccessToken))
		if want := base64.RawURLEncoding.EncodeToString(sum[:16]); extra.ATHash != want {
			t.Errorf("at_hash %q, want %q", extra.ATHash, want)
		}
		if extra.Nonce != nonce || extra.ACR != proofing.Substantial.ACR() {
			t.Errorf("ID token nonce %q acr %q, want %q %q", extra.Nonce, extra.ACR, nonce, proofing.Substantial.ACR())
		}
		if std.Subject == "" || std.Subject == fx.Resident.ID {
			t.Errorf("ID token sub %q: want a pairwise subject, not empty and not the internal ID", std.Subject)
		}

		info, err := fx.userinfo(ctx, tr.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if info["sub"] != std.Subject || info["given_name"] != fx.Resident.GivenNames || info["family_name"] != fx.Resident.Surname {
			t.Errorf("userinfo = %v; want sub %q and the resident's profile names", info, std.Subject)
		}

		in, err := fx.introspect(ctx, tr.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if in["active"] != true || in["sub"] != std.Subject || in["client_id"] != fx.Web.ClientID {
			t.Errorf("introspection = %v; want active, sub %q, client_id %q", in, std.Subject, fx.Web.ClientID)
		}

		// RFC 6749 §4.1.2: a code works once; the second use revokes the
		// grant, and the access token with it (RFC 6819 §4.4.1.1).
		if _, err := fx.exchange(ctx, code); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("second exchange of the code: %v, want invalid_grant", err)
		}
		if _, err := fx.userinfo(ctx, tr.AccessToken); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("userinfo after the code was replayed: %v, want 401", err)
		}

		cc, err := fx.clientCredentials(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cc.IDToken != "" || cc.RefreshToken != "" || cc.Scope != fixtureServiceScope {
			t.Errorf("client credentials response: ID token set %t, refresh token set %t, scope %q",
				cc.IDToken != "", cc.RefreshToken != "", cc.Scope)
		}
		in, err = fx.introspect(ctx, cc.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if in["active"] != false {
			t.Errorf("the web client introspecting the back-end's token got %v, want inactive (RFC 7662 §2.2, own tokens only)", in)
		}
	})
}
