package claims_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"eidp/idp/account"
	"eidp/idp/claims"
	"eidp/vault/attr"
)

// specExample is the claims parameter example of OpenID Connect Core 1.0
// §5.5.
const specExample = `{
   "userinfo":
    {
     "given_name": {"essential": true},
     "nickname": null,
     "email": {"essential": true},
     "email_verified": {"essential": true},
     "picture": null,
     "http://example.info/claims/groups": null
    },
   "id_token":
    {
     "auth_time": {"essential": true},
     "acr": {"values": ["urn:mace:incommon:iap:silver"] }
    }
  }`

// Further examples of OIDC Core §5.5.1 (individual claims requests) and
// §5.5.2 (languages and scripts), wrapped in a claims parameter.
const (
	specExampleEssentialACR = `{"id_token": {"acr": {"essential": true,
	   "values": ["urn:mace:incommon:iap:silver", "urn:mace:incommon:iap:bronze"]}}}`
	specExampleSub      = `{"id_token": {"sub": {"value": "248289761001"}}}`
	specExampleLanguage = `{"userinfo": {"family_name#ja-Kana-JP": null, "given_name#ja-Kana-JP": null}}`
)

func TestParseRequestReadsTheSpecExamples(t *testing.T) {
	t.Run("§5.5 example", func(t *testing.T) {
		r, err := claims.ParseRequest(specExample)
		if err != nil {
			t.Fatal(err)
		}
		want := claims.Request{
			UserInfo: map[string]*claims.Spec{
				"given_name":                        {Essential: true},
				"nickname":                          nil,
				"email":                             {Essential: true},
				"email_verified":                    {Essential: true},
				"picture":                           nil,
				"http://example.info/claims/groups": nil,
			},
			IDToken: map[string]*claims.Spec{
				"auth_time": {Essential: true},
				"acr":       {Values: []any{"urn:mace:incommon:iap:silver"}},
			},
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("parsed %s\nwant %s", dump(t, r), dump(t, want))
		}
		// Of all that, eidp releases given_name and email (from the vault;
		// email_verified comes with it); auth_time and acr are protocol
		// claims, the rest unknown.
		got := claims.Requested([]string{"openid"}, r, false)
		if want := []claims.Item{{Name: "given_name", Essential: true, UserInfo: true}, {Name: "email", Essential: true, UserInfo: true}}; !reflect.DeepEqual(got, want) {
			t.Errorf("Requested = %+v, want %+v", got, want)
		}
		if acr := claims.EssentialACR(r); acr != nil {
			t.Errorf("a voluntary acr request demands %v, want nothing", acr)
		}
	})
	t.Run("§5.5.1 essential acr", func(t *testing.T) {
		r, err := claims.ParseRequest(specExampleEssentialACR)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"urn:mace:incommon:iap:silver", "urn:mace:incommon:iap:bronze"}
		if got := claims.EssentialACR(r); !reflect.DeepEqual(got, want) {
			t.Errorf("EssentialACR = %v, want %v", got, want)
		}
	})
	t.Run("§5.5.1 sub with a value", func(t *testing.T) {
		r, err := claims.ParseRequest(specExampleSub)
		if err != nil {
			t.Fatal(err)
		}
		if s := r.IDToken["sub"]; s == nil || s.Value != "248289761001" || s.Essential {
			t.Errorf("sub spec = %+v", s)
		}
		if items := claims.Requested([]string{"openid"}, r, false); items != nil {
			t.Errorf("sub became an item: %+v", items)
		}
	})
	t.Run("§5.5.2 language-tagged claims", func(t *testing.T) {
		r, err := claims.ParseRequest(specExampleLanguage)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.UserInfo) != 2 || r.IDToken != nil {
			t.Fatalf("parsed %s", dump(t, r))
		}
		if items := claims.Requested([]string{"openid"}, r, false); items != nil {
			t.Errorf("names in Katakana, which eidp does not have, became items: %+v", items)
		}
	})
}

func TestParseRequestRefusesMalformedInput(t *testing.T) {
	tests := []struct {
		name, in, says string
	}{
		{"text that is not JSON", `userinfo=name`, "not valid JSON"},
		{"truncated JSON", `{"userinfo": {"name": null}`, "not valid JSON"},
		{"JSON followed by more text", `{"userinfo": {}} x`, "not valid JSON"},
		{"an array", `[{"userinfo": {}}]`, "must be a JSON object, not an array"},
		{"a string", `"userinfo"`, "must be a JSON object, not a string"},
		{"a number", `42`, "must be a JSON object, not a number"},
		{"null", `null`, "must be a JSON object, not null"},
		{"userinfo as a string", `{"userinfo": "name"}`, "userinfo must be an object of claim names, not a string"},
		{"id_token as an array", `{"id_token": ["name"]}`, "id_token must be an object of claim names, not an array"},
		{"a claim as a string", `{"userinfo": {"name": "essential"}}`, "userinfo.name must be null or an object, not a string"},
		{"a claim as true", `{"id_token": {"given_name": true}}`, "id_token.given_name must be null or an object, not a boolean"},
		{"essential as a string", `{"userinfo": {"name": {"essential": "yes"}}}`, "userinfo.name.essential must be true or false, not a string"},
		{"values as a string", `{"userinfo": {"name": {"values": "x"}}}`, "userinfo.name.values must be an array, not a string"},
		{"an acr value that is a number", `{"id_token": {"acr": {"essential": true, "value": 2}}}`, "id_token.acr.value must be a string"},
		{"an acr values entry that is an object", `{"id_token": {"acr": {"values": ["urn:eidp:acr:high", {}]}}}`, "id_token.acr.values[1] must be a string"},
		{"a claim with an unprintable name", `{"userinfo": {"na\"me\u00e9": 1}}`, "userinfo.(a claim) must be null or an object, not a number"},
		{"longer than 8 KiB", `{"userinfo": {"name": {"value": "` + strings.Repeat("a", claims.MaxRequestSize) + `"}}}`, "longer than 8192 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := claims.ParseRequest(tt.in)
			if !errors.Is(err, claims.ErrInvalidClaims) {
				t.Fatalf("error %v, want ErrInvalidClaims", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if !r.IsZero() {
				t.Errorf("a failed parse returned %+v", r)
			}
		})
	}
}

func TestParseRequestIgnoresWhatItDoesNotUnderstand(t *testing.T) {
	// §5.5 and §5.5.1: members not understood are ignored. Member names are
	// case-sensitive, so "Userinfo" and "Essential" are such members.
	r, err := claims.ParseRequest(`{"userinfo": {"name": {"essential": true, "Essential": false, "purpose": "to greet you"}},
		"Userinfo": {"gender": null}, "verified_claims": {"x": 1}, "id_token": null}`)
	if err != nil {
		t.Fatal(err)
	}
	want := claims.Request{UserInfo: map[string]*claims.Spec{"name": {Essential: true}}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("parsed %s, want %s", dump(t, r), dump(t, want))
	}
}

func TestParseRequestTreatsAnEmptyParameterAsAbsent(t *testing.T) {
	// RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
	for _, in := range []string{"", "{}", `{"userinfo": {}, "id_token": null}`} {
		r, err := claims.ParseRequest(in)
		if err != nil || !r.IsZero() {
			t.Errorf("ParseRequest(%q) = %+v, %v; want the zero Request", in, r, err)
		}
	}
}

func TestRequestedMergesScopesAndTheClaimsParameter(t *testing.T) {
	profile := []string{"name", "given_name", "family_name", "name#zh-Hant", "birthdate", "gender", "locale"}
	voluntaryUserInfo := func(names ...string) []claims.Item {
		var out []claims.Item
		for _, n := range names {
			out = append(out, claims.Item{Name: n, UserInfo: true})
		}
		return out
	}
	idCardItem := claims.Item{Name: claims.IDNumber, UserInfo: true}
	tests := []struct {
		name        string
		scopes      []string
		claims      string
		allowIDCard bool
		want        []claims.Item
	}{
		{"openid alone asks for no claim", []string{"openid"}, "", true, nil},
		{"profile asks for the profile claims from UserInfo, voluntarily", []string{"openid", "profile"}, "", false, voluntaryUserInfo(profile...)},
		{"eidp:idcard gives the ID number to a client allowed it", []string{"openid", "eidp:idcard"}, "", true, []claims.Item{idCardItem}},
		{"eidp:idcard gives nothing to a client not allowed it", []string{"openid", "eidp:idcard"}, "", false, nil},
		{"the claims parameter cannot ask for the ID number without the scope", []string{"openid"},
			`{"id_token": {"eidp_id_number": {"essential": true}}}`, true, nil},
		{"the claims parameter cannot ask for the ID number for a client not allowed it", []string{"openid", "eidp:idcard"},
			`{"id_token": {"eidp_id_number": {"essential": true}}}`, false, nil},
		{"the claims parameter can put the ID number in the ID token with the scope and the permission", []string{"openid", "eidp:idcard"},
			`{"id_token": {"eidp_id_number": {"essential": true}}}`, true,
			[]claims.Item{{Name: claims.IDNumber, Essential: true, IDToken: true, UserInfo: true}}},
		{"a claim asked for in both places is one item with both", []string{"openid", "profile"},
			`{"id_token": {"family_name": null}, "userinfo": {"birthdate": {"essential": true}}}`, false,
			[]claims.Item{
				{Name: "name", UserInfo: true}, {Name: "given_name", UserInfo: true},
				{Name: "family_name", IDToken: true, UserInfo: true}, {Name: "name#zh-Hant", UserInfo: true},
				{Name: "birthdate", Essential: true, UserInfo: true}, {Name: "gender", UserInfo: true}, {Name: "locale", UserInfo: true},
			}},
		{"essential in either member makes the item essential", []string{"openid"},
			`{"id_token": {"gender": {"essential": true}}, "userinfo": {"gender": null}}`, false,
			[]claims.Item{{Name: "gender", Essential: true, IDToken: true, UserInfo: true}}},
		{"essential false is voluntary", []string{"openid"},
			`{"id_token": {"gender": {"essential": false}}}`, false,
			[]claims.Item{{Name: "gender", IDToken: true}}},
		{"the Chinese name's language tag matches in any case", []string{"openid"},
			`{"id_token": {"name#ZH-hant": {"essential": true}}}`, false,
			[]claims.Item{{Name: "name#zh-Hant", Essential: true, IDToken: true}}},
		{"claim names are case-sensitive", []string{"openid"}, `{"id_token": {"Name": null, "GENDER": null}}`, false, nil},
		{"protocol and unknown claims are not items, and order is the display order", []string{"openid", "offline_access", "email"},
			`{"id_token": {"locale": null, "auth_time": {"essential": true}, "acr": null, "email": null, "name": null, "nickname": null}}`, false,
			[]claims.Item{{Name: "name", IDToken: true}, {Name: "locale", IDToken: true}, {Name: "email", IDToken: true, UserInfo: true}}},
		{"vault scopes ask for vault claims; provenance is asked per claim", []string{"openid", "address", "phone"},
			`{"userinfo": {"address": {"eidp_provenance": true}, "phone_number_verified": null}}`, false,
			[]claims.Item{{Name: "address", UserInfo: true, Provenance: true}, {Name: "phone_number", UserInfo: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := claims.ParseRequest(tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			got := claims.Requested(tt.scopes, req, tt.allowIDCard)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Requested =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestScopeClaimsAndSupported(t *testing.T) {
	supported := claims.Supported()
	want := append([]string{"name", "given_name", "family_name", "name#zh-Hant", "birthdate", "gender", "locale", "eidp_id_number"}, attr.Claims()...)
	if !reflect.DeepEqual(supported, want) {
		t.Errorf("Supported = %v, want %v", supported, want)
	}
	supported[0] = "changed"
	if claims.Supported()[0] != "name" {
		t.Error("Supported returns its internal slice")
	}
	for _, scope := range append([]string{"profile", "eidp:idcard"}, attr.Scopes()...) {
		for _, n := range claims.ScopeClaims(scope) {
			if !contains(want, n) {
				t.Errorf("scope %s asks for %s, which is not supported", scope, n)
			}
		}
	}
	if got := claims.ScopeClaims("email"); !reflect.DeepEqual(got, []string{"email"}) {
		t.Errorf("ScopeClaims(email) = %v, want [email] (OIDC Core §5.4)", got)
	}
	for _, scope := range []string{"openid", "offline_access", "Profile", "Email", ""} {
		if got := claims.ScopeClaims(scope); got != nil {
			t.Errorf("ScopeClaims(%q) = %v, want none", scope, got)
		}
	}
	for _, p := range claims.Protocol() {
		if contains(want, p) {
			t.Errorf("protocol claim %s is also releasable", p)
		}
	}
}

func resident(nameZH, gender string) account.Resident {
	return account.Resident{
		ID: "internal-id",
		Profile: account.Profile{
			IDNumber:   "A1234563",
			Surname:    "Chan",
			GivenNames: "Tai Man",
			NameZH:     nameZH,
			BirthDate:  "1990-07-01",
			Gender:     gender,
		},
		Level: "substantial",
	}
}

func TestValues(t *testing.T) {
	all := claims.Supported()
	tests := []struct {
		name     string
		resident account.Resident
		locale   string
		names    []string
		want     map[string]any
	}{
		{"every claim of a resident with a Chinese name", resident("陳大文", "M"), "zh-Hant", all, map[string]any{
			"name": "CHAN Tai Man", "given_name": "Tai Man", "family_name": "Chan", "name#zh-Hant": "陳大文",
			"birthdate": "1990-07-01", "gender": "male", "locale": "zh-Hant", "eidp_id_number": "A123456(3)",
		}},
		{"a resident without a Chinese name has no name#zh-Hant", resident("", "F"), "en", all, map[string]any{
			"name": "CHAN Tai Man", "given_name": "Tai Man", "family_name": "Chan",
			"birthdate": "1990-07-01", "gender": "female", "locale": "en", "eidp_id_number": "A123456(3)",
		}},
		{"X is unspecified", resident("", "X"), "en", []string{"gender"}, map[string]any{"gender": "unspecified"}},
		{"a gender the register does not define is left out", resident("", "U"), "en", []string{"gender"}, map[string]any{}},
		{"an empty gender is left out", resident("", ""), "en", []string{"gender"}, map[string]any{}},
		{"no locale, no locale claim", resident("", "M"), "", []string{"locale", "family_name"}, map[string]any{"family_name": "Chan"}},
		{"only the names asked for; unknown and protocol names are ignored", resident("陳大文", "M"), "en",
			[]string{"given_name", "email", "sub", "acr"}, map[string]any{"given_name": "Tai Man"}},
		{"the Chinese name asked for with its tag in another case", resident("陳大文", "M"), "en",
			[]string{"name#zh-hant"}, map[string]any{"name#zh-Hant": "陳大文"}},
		{"nothing asked, nothing given", resident("陳大文", "M"), "en", nil, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := claims.Values(tt.resident, tt.locale, tt.names)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Values =\n %v\nwant\n %v", got, tt.want)
			}
		})
	}
	t.Run("a resident with only a surname", func(t *testing.T) {
		r := resident("", "M")
		r.GivenNames = ""
		got := claims.Values(r, "en", []string{"name", "given_name"})
		if want := map[string]any{"name": "CHAN"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Values = %v, want %v", got, want)
		}
	})
}

func TestSatisfiesACR(t *testing.T) {
	const (
		substantial = "urn:eidp:acr:substantial"
		high        = "urn:eidp:acr:high"
	)
	tests := []struct {
		have string
		want []string
		ok   bool
	}{
		{high, []string{high}, true},
		{high, []string{substantial}, true},
		{high, []string{substantial, high}, true},
		{substantial, []string{substantial}, true},
		{substantial, []string{high}, false},
		{substantial, []string{high, substantial}, true}, // any one acceptable value is enough
		{"high", []string{high}, true},                   // the level name for have
		{high, []string{"high"}, false},                  // but wanted values are ACR values
		{high, []string{"urn:mace:incommon:iap:silver"}, false},
		{high, []string{"urn:eidp:acr:HIGH"}, false},
		{high, []string{""}, false},
		{"urn:eidp:acr:low", []string{substantial}, false},
		{"", []string{substantial}, false},
		{substantial, nil, true}, // nothing asked
		{"", nil, true},
	}
	for _, tt := range tests {
		if got := claims.SatisfiesACR(tt.have, tt.want); got != tt.ok {
			t.Errorf("SatisfiesACR(%q, %q) = %v, want %v", tt.have, tt.want, got, tt.ok)
		}
	}
}

func TestEssentialACR(t *testing.T) {
	tests := []struct {
		name, claims string
		want         []string
	}{
		{"no claims request", "", nil},
		{"voluntary acr", `{"id_token": {"acr": {"values": ["urn:eidp:acr:high"]}}}`, nil},
		{"null acr", `{"id_token": {"acr": null}}`, nil},
		{"essential acr without values", `{"id_token": {"acr": {"essential": true}}}`, nil},
		{"essential acr with a value", `{"id_token": {"acr": {"essential": true, "value": "urn:eidp:acr:high"}}}`, []string{"urn:eidp:acr:high"}},
		{"essential acr in userinfo", `{"userinfo": {"acr": {"essential": true, "values": ["urn:eidp:acr:substantial"]}}}`, []string{"urn:eidp:acr:substantial"}},
		{"both members, value and values, without duplicates", `{
			"id_token": {"acr": {"essential": true, "value": "a", "values": ["b", "a"]}},
			"userinfo": {"acr": {"essential": true, "values": ["c", "b"]}}}`, []string{"a", "b", "c"}},
		{"an acr member under another name does not count", `{"id_token": {"ACR": {"essential": true, "value": "a"}}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := claims.ParseRequest(tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			if got := claims.EssentialACR(req); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EssentialACR = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOnlyNarrowsToConsentedAndProtocolClaims(t *testing.T) {
	req, err := claims.ParseRequest(`{
		"userinfo": {"name": {"essential": true}, "gender": null, "email": null},
		"id_token": {"name#zh-hant": null, "birthdate": null, "auth_time": {"essential": true}, "acr": {"values": ["urn:eidp:acr:high"]}}}`)
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, req)
	got := req.Only([]string{"name", "name#zh-Hant"})
	want := claims.Request{
		UserInfo: map[string]*claims.Spec{"name": {Essential: true}},
		IDToken: map[string]*claims.Spec{
			"name#zh-hant": nil,
			"auth_time":    {Essential: true},
			"acr":          {Values: []any{"urn:eidp:acr:high"}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Only = %s\nwant %s", dump(t, got), dump(t, want))
	}
	if dump(t, req) != before {
		t.Error("Only modified the request it narrowed")
	}
	if none := req.Only(nil); none.UserInfo != nil || len(none.IDToken) != 2 {
		t.Errorf("Only(nil) = %s, want the protocol claims alone", dump(t, none))
	}
	if z := (claims.Request{}).Only([]string{"name"}); !z.IsZero() {
		t.Errorf("narrowing nothing gave %+v", z)
	}
}

func TestIsZero(t *testing.T) {
	if !(claims.Request{}).IsZero() {
		t.Error("the zero Request is not zero")
	}
	if !(claims.Request{UserInfo: map[string]*claims.Spec{}}).IsZero() {
		t.Error("an empty userinfo member is not zero")
	}
	if (claims.Request{IDToken: map[string]*claims.Spec{"name": nil}}).IsZero() {
		t.Error("a request for name is zero")
	}
}

func TestRequestRoundTripsThroughJSON(t *testing.T) {
	for _, in := range []string{specExample, specExampleEssentialACR, specExampleSub, specExampleLanguage,
		`{"userinfo": {"name": {"value": false, "values": [null, 1.5, {"a": [true]}]}, "gender": {}}}`} {
		req, err := claims.ParseRequest(in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var back claims.Request
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("reading back %s: %v", b, err)
		}
		if !reflect.DeepEqual(back, req) {
			t.Errorf("round trip changed the request:\n %s\n %s", dump(t, req), dump(t, back))
		}
	}
	// Reading a stored request applies the same rules as ParseRequest.
	var r claims.Request
	if err := json.Unmarshal([]byte(`{"userinfo": "name"}`), &r); !errors.Is(err, claims.ErrInvalidClaims) {
		t.Errorf("json.Unmarshal of a malformed request: %v, want ErrInvalidClaims", err)
	}
}

func dump(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
