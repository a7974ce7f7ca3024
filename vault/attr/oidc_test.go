package attr_test

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"eidp/vault/attr"
)

// addressMembers are the members of the Address Claim, OpenID Connect Core
// 1.0 §5.1.1, and eidp's own eidp_hk.
var addressMembers = []string{"formatted", "street_address", "locality", "region", "postal_code", "country", "eidp_hk"}

// released marshals a claim value as a token or UserInfo response would.
func released(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("claim %s is not a JSON object: %v", b, err)
	}
	return m
}

func TestClaimValueOfAStructuredAddressIsTheCoreAddressClaim(t *testing.T) {
	v := canonical(t, attr.ResidentialAddress, addressEN)
	for _, tt := range []struct {
		lang string
		want map[string]any
	}{
		{"en", map[string]any{
			"formatted":      "Flat A, 12/F, Block 3\nSunshine Court\nHappy Estate\n123 Queen's Road Central\nWan Chai\nHong Kong Island",
			"street_address": "Flat A, 12/F, Block 3\nSunshine Court\nHappy Estate\n123 Queen's Road Central",
			"locality":       "Wan Chai",
			"region":         "Hong Kong Island",
			"country":        "HK",
		}},
		{"zh-Hant", map[string]any{
			"formatted":      "香港島\n灣仔區\nQueen's Road Central 123號\nHappy Estate\nSunshine Court 3座12樓A室",
			"street_address": "Queen's Road Central 123號\nHappy Estate\nSunshine Court 3座12樓A室",
			"locality":       "灣仔區",
			"region":         "香港島",
			"country":        "HK",
		}},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			cv, err := attr.ClaimValue(attr.ResidentialAddress, v, tt.lang)
			if err != nil {
				t.Fatal(err)
			}
			m := released(t, cv)
			for k := range m {
				if !slices.Contains(addressMembers, k) {
					t.Errorf("member %q is not an Address Claim member", k)
				}
			}
			hk, ok := m["eidp_hk"].(map[string]any)
			if !ok {
				t.Fatalf("eidp_hk = %#v, want an object", m["eidp_hk"])
			}
			delete(m, "eidp_hk")
			if !maps.Equal(m, tt.want) {
				t.Errorf("claim %#v\nwant %#v", m, tt.want)
			}
			wantHK := map[string]any{"flat": "A", "floor": "12", "block": "3", "building": "Sunshine Court",
				"estate": "Happy Estate", "street_number": "123", "street": "Queen's Road Central",
				"district": "wan-chai", "region": "hk-island"}
			if !maps.Equal(hk, wantHK) {
				t.Errorf("eidp_hk %#v\nwant %#v", hk, wantHK)
			}
		})
	}
}

func TestClaimValueOfAFreeTextAddressIsFormattedOnly(t *testing.T) {
	cv, err := attr.ClaimValue(attr.CorrespondenceAddress, canonical(t, attr.CorrespondenceAddress, addressFT), "en")
	if err != nil {
		t.Fatal(err)
	}
	m := released(t, cv)
	want := map[string]any{"formatted": "Flat 3, 10 Downing Street\nLondon SW1A 2AA\nUnited Kingdom"}
	if !maps.Equal(m, want) {
		t.Errorf("claim %#v, want %#v (a free-text address may be anywhere: no country)", m, want)
	}
}

func TestClaimValueOfOtherAttributes(t *testing.T) {
	tests := []struct {
		name attr.Name
		raw  string
		want string // the claim as JSON
	}{
		{attr.MobilePhone, `"9123 4567"`, `"+85291234567"`},
		{attr.OtherPhone, `"+852 2123 4567"`, `"+85221234567"`},
		{attr.Email, `"Chan@Example.com"`, `"Chan@example.com"`},
		{attr.PreferredLanguage, `"zh-hant"`, `"zh-Hant"`},
		{attr.EducationLevel, `"postgraduate"`, `"postgraduate"`},
		{attr.Occupation, `"Teacher"`, `"Teacher"`},
		{attr.MaritalStatus, `"single"`, `"single"`},
		{attr.EmergencyContact, contact, `{"name":"Chan Tai Man","relationship":"spouse","phone":"+85261234567"}`},
	}
	for _, tt := range tests {
		cv, err := attr.ClaimValue(tt.name, json.RawMessage(tt.raw), "en")
		if err != nil {
			t.Fatalf("ClaimValue(%s, %s): %v", tt.name, tt.raw, err)
		}
		b, _ := json.Marshal(cv)
		if string(b) != tt.want {
			t.Errorf("ClaimValue(%s, %s) = %s, want %s", tt.name, tt.raw, b, tt.want)
		}
	}
}

func TestClaimValueRefusesAValueThatDoesNotValidate(t *testing.T) {
	_, err := attr.ClaimValue(attr.MobilePhone, json.RawMessage(`"+85221234567"`), "en")
	if !errors.Is(err, attr.ErrInvalid) {
		t.Errorf("ClaimValue of a fixed line as mobile = %v, want ErrInvalid", err)
	}
	_, err = attr.ClaimValue("shoe_size", json.RawMessage(`"42"`), "en")
	if !errors.Is(err, attr.ErrUnknownName) {
		t.Errorf("ClaimValue of an unknown attribute = %v, want ErrUnknownName", err)
	}
}

func TestScopesAndClaimsCoverEveryAttributeOnce(t *testing.T) {
	wantScopes := []string{"address", "eidp:correspondence_address", "phone", "eidp:other_phone", "email",
		"eidp:preferred_language", "eidp:education", "eidp:occupation", "eidp:marital_status", "eidp:emergency_contact"}
	if got := attr.Scopes(); !slices.Equal(got, wantScopes) {
		t.Errorf("Scopes() = %v, want %v", got, wantScopes)
	}
	wantClaims := map[attr.Name]string{
		attr.ResidentialAddress: "address", attr.CorrespondenceAddress: "eidp_correspondence_address",
		attr.MobilePhone: "phone_number", attr.OtherPhone: "eidp_other_phone", attr.Email: "email",
		attr.PreferredLanguage: "eidp_preferred_language", attr.EducationLevel: "eidp_education_level",
		attr.Occupation: "eidp_occupation", attr.MaritalStatus: "eidp_marital_status",
		attr.EmergencyContact: "eidp_emergency_contact",
	}
	released := map[attr.Name]int{}
	for _, scope := range attr.Scopes() {
		for _, n := range attr.ScopeNames(scope) {
			released[n]++
		}
	}
	for _, n := range attr.Names() {
		if released[n] != 1 {
			t.Errorf("%s is released by %d scopes, want 1", n, released[n])
		}
		claim := attr.ClaimName(n)
		if claim != wantClaims[n] {
			t.Errorf("ClaimName(%s) = %q, want %q", n, claim, wantClaims[n])
		}
		if got, ok := attr.ByClaim(claim); !ok || got != n {
			t.Errorf("ByClaim(%q) = %s, %v, want %s", claim, got, ok, n)
		}
		if !slices.Contains(attr.Claims(), claim) {
			t.Errorf("Claims() lacks %q", claim)
		}
		if !strings.HasPrefix(claim, "eidp_") && !slices.Contains([]string{"address", "phone_number", "email"}, claim) {
			t.Errorf("claim %q is neither a Core §5.1 claim nor in the eidp_ namespace", claim)
		}
	}
	if got := attr.ScopeNames("phone"); !slices.Equal(got, []attr.Name{attr.MobilePhone}) {
		t.Errorf("ScopeNames(phone) = %v, want the mobile phone alone (Core §5.4)", got)
	}
	for _, s := range []string{"openid", "profile", "eidp:idcard", "offline_access", "Address", ""} {
		if got := attr.ScopeNames(s); got != nil {
			t.Errorf("ScopeNames(%q) = %v, want none", s, got)
		}
	}
	for _, c := range []string{"name", "locale", "Email", "eidp_id_number", "phone"} {
		if n, ok := attr.ByClaim(c); ok {
			t.Errorf("ByClaim(%q) = %s", c, n)
		}
	}
	for n, v := range map[attr.Name]string{attr.MobilePhone: "phone_number_verified", attr.Email: "email_verified", attr.OtherPhone: ""} {
		if got := attr.VerifiedClaim(n); got != v {
			t.Errorf("VerifiedClaim(%s) = %q, want %q", n, got, v)
		}
		if v != "" {
			if got, ok := attr.ByClaim(v); !ok || got != n {
				t.Errorf("ByClaim(%q) = %s, %v", v, got, ok)
			}
			if !slices.Contains(attr.Claims(), v) {
				t.Errorf("Claims() lacks %q", v)
			}
		}
	}
	if n := len(attr.Claims()); n != len(attr.Names())+2 {
		t.Errorf("Claims() has %d claims, want one per attribute and two *_verified", n)
	}
}
