package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"eidp/hsm/testkeys"
	"eidp/idp/client"
	"eidp/idp/provider"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/vault/accesslog"
	"eidp/vault/attr"
)

// Releases of vault claims through the provider, as a relying party and
// the resident's access log see them: what is released (only what the
// consent record names, in the shapes of OIDC Core §5.1), what is recorded
// (one access-log entry per release, names never values, on a chain that
// verifies), and what stops a release (a withdrawn consent, an erased
// vault).

// vaultClaimNames are the claims fixtureVaultScope asks for.
var vaultClaimNames = []string{"address", "phone_number", "email", "eidp_occupation", "eidp_emergency_contact"}

// vaultSetup is a vault client and a resident who keeps fixtureVaultValues
// and consented to what the test says.
type vaultSetup struct {
	fx       *opFixture
	client   client.Client
	secret   string
	resident string
	cookie   *http.Cookie
}

var residentSerial int

// newVaultSetup registers a vault client named clientName and a new
// logged-in resident; fill stores fixtureVaultValues in their vault.
func newVaultSetup(t testing.TB, fx *opFixture, clientName string, fill bool) *vaultSetup {
	t.Helper()
	residentSerial++
	r, _, cookie := fx.newResident(t, fmt.Sprintf("V%07d", residentSerial))
	c, secret := fx.newVaultClient(t, clientName)
	if fill {
		fx.fillVault(t, r.ID)
	}
	return &vaultSetup{fx: fx, client: c, secret: secret, resident: r.ID, cookie: cookie}
}

// consent records the resident's consent to the client for scope and
// claimNames.
func (s *vaultSetup) consent(t testing.TB, scope string, claimNames ...string) {
	t.Helper()
	s.fx.consentTo(t, s.resident, s.client.ClientID, strings.Fields(scope), claimNames)
}

// tokens runs the code flow for scope and the claims parameter.
func (s *vaultSetup) tokens(t testing.TB, scope, claimsParam string) tokenResponse {
	t.Helper()
	ctx := context.Background()
	code, err := s.fx.authorizeFor(ctx, authzRequest{ClientID: s.client.ClientID, Cookie: s.cookie,
		Scope: scope, Claims: claimsParam, Nonce: "vault-nonce"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := s.fx.exchangeFor(ctx, s.client.ClientID, s.secret, code)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// entries returns the resident's access log, newest first.
func (s *vaultSetup) entries(t testing.TB) []accesslog.Entry {
	t.Helper()
	es, err := s.fx.AccessLog.List(context.Background(), s.resident, accesslog.MaxListLimit)
	if err != nil {
		t.Fatalf("accesslog.List: %v", err)
	}
	return es
}

// verifyChain fails unless the resident's access-log chain verifies.
func (s *vaultSetup) verifyChain(t testing.TB) {
	t.Helper()
	if err := s.fx.AccessLog.Verify(context.Background(), s.resident); err != nil {
		t.Errorf("access log chain: %v", err)
	}
}

// userinfoResponse is a UserInfo answer with its status and headers.
type userinfoResponse struct {
	status int
	header http.Header
	claims map[string]any
}

// userinfoRaw calls GET /userinfo with a bearer token and decodes the JSON
// answer whatever its status.
func (fx *opFixture) userinfoRaw(t testing.TB, accessToken string) userinfoResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, fx.URL+provider.PathUserinfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := fx.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := userinfoResponse{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(body, &out.claims); err != nil {
		t.Fatalf("userinfo: status %d, body is not JSON: %v", resp.StatusCode, err)
	}
	return out
}

// testKeyBackends are the soft backend and SoftHSM2 through PKCS#11 (one
// fresh token for the test).
func testKeyBackends(t *testing.T) []keyBackend {
	return []keyBackend{{"soft", testkeys.Soft(t)}, {"softhsm2", testkeys.SoftHSM(t)}}
}

// eachVaultFixture runs test on a fresh provider fixture per key backend
// and engine.
func eachVaultFixture(t *testing.T, kms []keyBackend, test func(t *testing.T, fx *opFixture)) {
	for _, k := range kms {
		t.Run(k.name, func(t *testing.T) {
			testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
				test(t, newOPFixture(t, d, k.km, provider.Options{}))
			})
		})
	}
}

// softOnly is the soft key backend alone: the vault's key unwrap is the
// only key operation of a release, and TestUserinfoReleasesExactlyTheConsentedVaultClaims
// covers it on SoftHSM2.
func softOnly(t *testing.T) []keyBackend { return []keyBackend{{"soft", testkeys.Soft(t)}} }

func TestUserinfoReleasesExactlyTheConsentedVaultClaims(t *testing.T) {
	eachVaultFixture(t, testKeyBackends(t), func(t *testing.T, fx *opFixture) {
		s := newVaultSetup(t, fx, "Housing Department", true)
		s.consent(t, fixtureVaultScope, vaultClaimNames...)
		tr := s.tokens(t, fixtureVaultScope, "")
		if tr.Scope != fixtureVaultScope {
			t.Errorf("token scope %q, want %q", tr.Scope, fixtureVaultScope)
		}

		got := fx.userinfoRaw(t, tr.AccessToken)
		if got.status != http.StatusOK {
			t.Fatalf("userinfo: status %d: %v", got.status, got.claims)
		}
		want := map[string]any{
			// OIDC Core §5.1.1: the Address Claim. Hong Kong has no postal
			// codes; locality is the district, region the area.
			"address": map[string]any{
				"formatted":      "Flat 12B, 12/F, Block 3\nHarbour View Gardens\n88 Gloucester Road\nWan Chai\nHong Kong Island",
				"street_address": "Flat 12B, 12/F, Block 3\nHarbour View Gardens\n88 Gloucester Road",
				"locality":       "Wan Chai",
				"region":         "Hong Kong Island",
				"country":        "HK",
				"eidp_hk": map[string]any{"flat": "12B", "floor": "12", "block": "3", "building": "Harbour View Gardens",
					"street_number": "88", "street": "Gloucester Road", "district": "wan-chai", "region": "hk-island"},
			},
			// §5.1: E.164; the resident typed it, nobody verified it.
			"phone_number":          "+85291234567",
			"phone_number_verified": false,
			"email":                 "mei.ling.chan@example.hk",
			"email_verified":        false,
			"eidp_occupation":       "Registered nurse",
			"eidp_emergency_contact": map[string]any{
				"name": "Chan Siu Ming", "relationship": "spouse", "phone": "+85223456789"},
		}
		sub := got.claims["sub"]
		delete(got.claims, "sub")
		if sub == nil || sub == s.resident {
			t.Errorf("userinfo sub %v: want a pairwise subject", sub)
		}
		if !reflect.DeepEqual(got.claims, want) {
			t.Errorf("userinfo released\n%s\nwant exactly\n%s", dumpJSON(t, got.claims), dumpJSON(t, want))
		}

		// One access-log entry for the release: names, never values; the
		// service's name as the resident saw it; the consent; the request.
		es := s.entries(t)
		if len(es) != 1 {
			t.Fatalf("access log after one userinfo call: %d entries, want 1", len(es))
		}
		e := es[0]
		wantAttrs := []string{"email", "emergency_contact", "mobile_phone", "occupation", "residential_address"}
		if !slices.Equal(e.Attributes, wantAttrs) {
			t.Errorf("entry names %v, want %v", e.Attributes, wantAttrs)
		}
		if e.ClientID != s.client.ClientID || e.ClientName != "Housing Department" || e.Seq != 1 {
			t.Errorf("entry: client %q %q, seq %d; want %q \"Housing Department\", 1", e.ClientID, e.ClientName, e.Seq, s.client.ClientID)
		}
		if !strings.Contains(e.Consent, s.client.ClientID) {
			t.Errorf("entry consent reference %q does not name the client's consent", e.Consent)
		}
		if rid := got.header.Get("X-Request-Id"); rid == "" || e.RequestID != rid {
			t.Errorf("entry request ID %q, want the response's X-Request-Id %q", e.RequestID, rid)
		}
		assertNoValues(t, e)
		s.verifyChain(t)
	})
}

// assertNoValues fails if an access-log entry holds any stored value or a
// piece of one. The phone numbers are looked for whole (with and without
// the country code): the entry's consent version (a microsecond
// timestamp) and request ID (hex) are random digits, in which four of them
// turn up by chance (a test run once found "9123" in a consent version).
func assertNoValues(t *testing.T, e accesslog.Entry) {
	t.Helper()
	text := strings.Join(append([]string{e.ClientName, e.Consent, e.RequestID}, e.Attributes...), "\n")
	for _, piece := range []string{"Harbour", "Gloucester", "wan-chai", "91234567", "85291234567", "mei.ling", "example.hk",
		"nurse", "Siu Ming", "spouse", "23456789", "85223456789"} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(piece)) {
			t.Errorf("access-log entry contains %q from a value: %+v", piece, e)
		}
	}
}

func dumpJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVaultReleaseFollowsTheConsentRecord(t *testing.T) {
	eachVaultFixture(t, softOnly(t), func(t *testing.T, fx *opFixture) {
		t.Run("a claim left out of the consent is not released though the scope asked", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Social Welfare Department", true)
			// The resident unticked the phone number: the scope is
			// consented, the voluntary claim is not.
			s.consent(t, fixtureVaultScope, "address", "email", "eidp_occupation", "eidp_emergency_contact")
			got := fx.userinfoRaw(t, s.tokens(t, fixtureVaultScope, "").AccessToken)
			if got.status != http.StatusOK {
				t.Fatalf("userinfo: status %d: %v", got.status, got.claims)
			}
			for _, name := range []string{"phone_number", "phone_number_verified"} {
				if v, ok := got.claims[name]; ok {
					t.Errorf("userinfo released %s = %v without consent", name, v)
				}
			}
			if got.claims["email"] != "mei.ling.chan@example.hk" || got.claims["address"] == nil {
				t.Errorf("userinfo = %v; want the consented email and address", got.claims)
			}
			es := s.entries(t)
			if len(es) != 1 || slices.Contains(es[0].Attributes, "mobile_phone") || len(es[0].Attributes) != 4 {
				t.Errorf("access log %+v; want one entry naming the four released attributes, not mobile_phone", es)
			}
		})

		t.Run("a consent narrowed after the token was issued narrows the next release", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Hospital Authority", true)
			s.consent(t, fixtureVaultScope, vaultClaimNames...)
			at := s.tokens(t, fixtureVaultScope, "").AccessToken
			if got := fx.userinfoRaw(t, at); got.claims["phone_number"] != "+85291234567" {
				t.Fatalf("userinfo before the change = %v; want the phone number", got.claims)
			}
			// The resident takes the phone number back on the connected
			// services page; the token stays valid.
			s.consent(t, fixtureVaultScope, "address", "email", "eidp_occupation", "eidp_emergency_contact")
			got := fx.userinfoRaw(t, at)
			if _, ok := got.claims["phone_number"]; ok || got.status != http.StatusOK || got.claims["email"] == nil {
				t.Errorf("userinfo after the change: status %d = %v; want 200 without phone_number", got.status, got.claims)
			}
			if es := s.entries(t); len(es) != 2 || slices.Contains(es[0].Attributes, "mobile_phone") {
				t.Errorf("access log %+v; want a second entry without mobile_phone", es)
			}
		})

		t.Run("provenance on request: source, verified, updated_at", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Transport Department", false)
			stored := fx.fillVault(t, s.resident)
			s.consent(t, fixtureVaultScope, vaultClaimNames...)
			got := fx.userinfoRaw(t, s.tokens(t, fixtureVaultScope, `{"userinfo":{"address":{"eidp_provenance":true}}}`).AccessToken)
			if got.status != http.StatusOK {
				t.Fatalf("userinfo: status %d: %v", got.status, got.claims)
			}
			want := map[string]any{"address": map[string]any{
				"source": "resident", "verified": false,
				"updated_at": float64(stored[attr.ResidentialAddress].UpdatedAt.Unix()),
			}}
			if p := got.claims["eidp_provenance"]; !reflect.DeepEqual(p, want) {
				t.Errorf("eidp_provenance = %v, want %v (asked for the address only)", p, want)
			}
			if got.claims["address"] == nil || got.claims["phone_number"] == nil {
				t.Errorf("userinfo = %v; provenance comes beside the claims, not instead", got.claims)
			}
		})

		t.Run("without the request, no provenance", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Inland Revenue Department", true)
			s.consent(t, fixtureVaultScope, vaultClaimNames...)
			got := fx.userinfoRaw(t, s.tokens(t, fixtureVaultScope, "").AccessToken)
			if p, ok := got.claims["eidp_provenance"]; ok || got.status != http.StatusOK {
				t.Errorf("userinfo status %d, eidp_provenance %v; want 200 without it", got.status, p)
			}
		})

		t.Run("an ID token member releases in the ID token, and logs it", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Electoral Affairs", true)
			s.consent(t, "openid", "email")
			tr := s.tokens(t, "openid", `{"id_token":{"email":null}}`)
			idt := fx.verifyIDToken(t, tr.IDToken)
			if idt["email"] != "mei.ling.chan@example.hk" || idt["email_verified"] != false {
				t.Errorf("ID token email %v, email_verified %v; want the stored address, false", idt["email"], idt["email_verified"])
			}
			for _, name := range []string{"address", "phone_number", "eidp_occupation"} {
				if _, ok := idt[name]; ok {
					t.Errorf("ID token carries %s, which nobody asked for", name)
				}
			}
			es := s.entries(t)
			if len(es) != 1 || !slices.Equal(es[0].Attributes, []string{"email"}) || es[0].ClientID != s.client.ClientID {
				t.Fatalf("access log after the code exchange: %+v; want one entry for email", es)
			}
			assertNoValues(t, es[0])
			// The id_token member asks for the ID token only (OIDC Core
			// §5.5): userinfo answers without email, and logs nothing.
			got := fx.userinfoRaw(t, tr.AccessToken)
			if _, ok := got.claims["email"]; ok || got.status != http.StatusOK {
				t.Errorf("userinfo status %d = %v; want 200 without email", got.status, got.claims)
			}
			if n := len(s.entries(t)); n != 1 {
				t.Errorf("userinfo that released nothing from the vault added %d access-log entries", n-1)
			}
			s.verifyChain(t)
		})
	})
}

func TestVaultReleaseIsLoggedEveryTime(t *testing.T) {
	eachVaultFixture(t, softOnly(t), func(t *testing.T, fx *opFixture) {
		t.Run("one entry per userinfo call, on a chain that verifies", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Department of Health", true)
			s.consent(t, fixtureVaultScope, vaultClaimNames...)
			at := s.tokens(t, fixtureVaultScope, "").AccessToken
			var ids []string
			for call := 1; call <= 3; call++ {
				got := fx.userinfoRaw(t, at)
				if got.status != http.StatusOK {
					t.Fatalf("userinfo call %d: status %d", call, got.status)
				}
				es := s.entries(t)
				if len(es) != call || es[0].Seq != int64(call) {
					t.Fatalf("after %d userinfo calls: %d entries, newest seq %d", call, len(es), es[0].Seq)
				}
				if len(es[0].Attributes) != 5 || es[0].RequestID != got.header.Get("X-Request-Id") {
					t.Errorf("entry %d: %+v; want five names and the request's ID", call, es[0])
				}
				assertNoValues(t, es[0])
				ids = append(ids, es[0].RequestID)
			}
			if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 3 {
				t.Errorf("request IDs %v: want one per call", ids)
			}
			s.verifyChain(t)

			// A new consent is a new reference.
			before := s.entries(t)[0].Consent
			s.consent(t, fixtureVaultScope, vaultClaimNames...)
			fx.userinfoRaw(t, at)
			if after := s.entries(t)[0].Consent; after == before {
				t.Errorf("consent reference %q did not change when the consent was given again", after)
			}
		})

		t.Run("an attribute the resident does not keep is absent and not logged", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Labour Department", true)
			if err := fx.Vault.Delete(context.Background(), s.resident, string(attr.Occupation), -1); err != nil {
				t.Fatalf("vault.Delete: %v", err)
			}
			s.consent(t, fixtureVaultScope, vaultClaimNames...)
			got := fx.userinfoRaw(t, s.tokens(t, fixtureVaultScope, "").AccessToken)
			if _, ok := got.claims["eidp_occupation"]; ok || got.status != http.StatusOK || got.claims["email"] == nil {
				t.Errorf("userinfo status %d = %v; want 200, email, no eidp_occupation", got.status, got.claims)
			}
			es := s.entries(t)
			want := []string{"email", "emergency_contact", "mobile_phone", "residential_address"}
			if len(es) != 1 || !slices.Equal(es[0].Attributes, want) {
				t.Errorf("access log %+v; want one entry naming %v", es, want)
			}
		})

		t.Run("a resident who keeps none of them: nothing released, nothing logged", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Lands Department", false)
			s.consent(t, fixtureVaultScope, vaultClaimNames...)
			got := fx.userinfoRaw(t, s.tokens(t, fixtureVaultScope, "").AccessToken)
			if got.status != http.StatusOK || len(got.claims) != 1 || got.claims["sub"] == nil {
				t.Errorf("userinfo status %d = %v; want 200 with sub alone", got.status, got.claims)
			}
			if es := s.entries(t); len(es) != 0 {
				t.Errorf("access log %+v; want nothing", es)
			}
		})
	})
}

func TestVaultReleaseStops(t *testing.T) {
	eachVaultFixture(t, softOnly(t), func(t *testing.T, fx *opFixture) {
		t.Run("consent withdrawn while a token is still valid: 401, nothing logged", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Water Supplies Department", true)
			s.consent(t, fixtureVaultScope, vaultClaimNames...)
			at := s.tokens(t, fixtureVaultScope, "").AccessToken
			if got := fx.userinfoRaw(t, at); got.status != http.StatusOK {
				t.Fatalf("userinfo before the withdrawal: status %d", got.status)
			}
			// The race: the consent row is gone, the grant not yet revoked.
			if err := fx.Consents.Delete(context.Background(), s.resident, s.client.ClientID); err != nil {
				t.Fatalf("consent.Delete: %v", err)
			}
			got := fx.userinfoRaw(t, at)
			if got.status != http.StatusUnauthorized || got.claims["error"] != "invalid_token" ||
				!strings.Contains(got.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("userinfo after the withdrawal: status %d, %v, WWW-Authenticate %q; want 401 invalid_token",
					got.status, got.claims, got.header.Get("WWW-Authenticate"))
			}
			for _, name := range vaultClaimNames {
				if _, ok := got.claims[name]; ok {
					t.Errorf("the 401 answer carries %s", name)
				}
			}
			if es := s.entries(t); len(es) != 1 {
				t.Errorf("access log has %d entries, want only the one from before the withdrawal", len(es))
			}
			s.verifyChain(t)
		})

		t.Run("vault erased: register claims still, no vault claims, nothing logged", func(t *testing.T) {
			s := newVaultSetup(t, fx, "Immigration Department", true)
			scope := "openid profile " + strings.TrimPrefix(fixtureVaultScope, "openid ")
			s.consent(t, scope, append([]string{"given_name", "family_name", "name"}, vaultClaimNames...)...)
			at := s.tokens(t, scope, "").AccessToken
			if got := fx.userinfoRaw(t, at); got.status != http.StatusOK || got.claims["address"] == nil {
				t.Fatalf("userinfo before the erasure: status %d = %v", got.status, got.claims)
			}
			if err := fx.Vault.Erase(context.Background(), s.resident); err != nil {
				t.Fatalf("vault.Erase: %v", err)
			}
			got := fx.userinfoRaw(t, at)
			if got.status != http.StatusOK || got.claims["given_name"] != "Tai Man" || got.claims["family_name"] != "Chan" {
				t.Errorf("userinfo after the erasure: status %d = %v; want 200 with the register's names", got.status, got.claims)
			}
			for _, name := range append([]string{"email_verified", "phone_number_verified", "eidp_provenance"}, vaultClaimNames...) {
				if _, ok := got.claims[name]; ok {
					t.Errorf("userinfo after the erasure released %s", name)
				}
			}
			if es := s.entries(t); len(es) != 1 {
				t.Errorf("access log has %d entries, want only the one from before the erasure", len(es))
			}
			s.verifyChain(t)
		})
	})
}
