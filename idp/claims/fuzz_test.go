package claims_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"eidp/idp/claims"
)

// FuzzParseRequest: the claims parameter is untrusted input. ParseRequest
// never panics, fails only with ErrInvalidClaims, and whatever it accepts
// survives the trip through JSON that a grant makes (json.Marshal, then
// json.Unmarshal) unchanged. The functions that consume a Request must not
// panic on it either.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		specExample, specExampleEssentialACR, specExampleSub, specExampleLanguage,
		"", "{}", "null", "[]", `{"userinfo": null}`, `{"userinfo": {"name#zh-hant": {"essential": true}}}`,
		`{"id_token": {"acr": {"essential": true, "value": "urn:eidp:acr:high", "values": []}}}`,
		`{"userinfo": {"name": {"value": -0, "values": [1e300, "\u00e9", null]}}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		req, err := claims.ParseRequest(s)
		if err != nil {
			if !errors.Is(err, claims.ErrInvalidClaims) {
				t.Fatalf("error %v does not wrap ErrInvalidClaims", err)
			}
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("cannot marshal a parsed request: %v", err)
		}
		var back claims.Request
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("cannot re-parse %s: %v", b, err)
		}
		if !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip changed the request: %#v became %#v", req, back)
		}
		items := claims.Requested([]string{"openid", "profile", "eidp:idcard"}, req, true)
		names := make([]string, len(items))
		for i, it := range items {
			names[i] = it.Name
		}
		if !reflect.DeepEqual(req.Only(names).Only(names), req.Only(names)) {
			t.Fatal("Only is not idempotent")
		}
		claims.SatisfiesACR("urn:eidp:acr:high", claims.EssentialACR(req))
	})
}
