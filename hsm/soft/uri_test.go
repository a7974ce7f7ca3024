package soft

import (
	"errors"
	"strings"
	"testing"

	"eidp/hsm"
)

const testID = "0123456789abcdef0123456789abcdef"

func TestParseURI(t *testing.T) {
	valid := []struct {
		name, uri string
		want      keyURI
	}{
		{"id and object", "soft:id=" + testID + ";object=oidc-signing", keyURI{testID, "oidc-signing", true}},
		{"object before id", "soft:object=a;id=" + testID, keyURI{testID, "a", true}},
		{"id alone", "soft:id=" + testID, keyURI{id: testID}},
		{"a percent-encoded object", "soft:id=" + testID + ";object=a%3Bb%20c%c3%a9", keyURI{testID, "a;b cé", true}},
		{"RFC 7512 literal characters in the object", "soft:id=" + testID + ";object=a:b@c!d$e'f(g)h*i+j,k=l&m", keyURI{testID, "a:b@c!d$e'f(g)h*i+j,k=l&m", true}},
		{"an empty object", "soft:id=" + testID + ";object=", keyURI{testID, "", true}},
	}
	for _, tc := range valid {
		t.Run("parses "+tc.name, func(t *testing.T) {
			got, err := parseURI(tc.uri)
			if err != nil || got != tc.want {
				t.Errorf("parseURI(%q) = %+v, %v; want %+v", tc.uri, got, err, tc.want)
			}
		})
	}

	invalid := []struct{ name, uri string }{
		{"an empty string", ""},
		{"another scheme", "pkcs11:id=%01"},
		{"an uppercase scheme", "SOFT:id=" + testID},
		{"no attributes", "soft:"},
		{"no id", "soft:object=a"},
		{"a short id", "soft:id=0123"},
		{"an uppercase id", "soft:id=" + strings.ToUpper(testID)},
		{"a percent-encoded id", "soft:id=" + testID[:31] + "%66"},
		{"id twice", "soft:id=" + testID + ";id=" + testID},
		{"object twice", "soft:id=" + testID + ";object=a;object=b"},
		{"an unknown attribute", "soft:id=" + testID + ";token=x"},
		{"an attribute without value", "soft:id=" + testID + ";object"},
		{"an empty attribute", "soft:id=" + testID + ";;object=a"},
		{"a trailing separator", "soft:id=" + testID + ";"},
		{"an incomplete escape", "soft:id=" + testID + ";object=a%2"},
		{"a bad escape", "soft:id=" + testID + ";object=a%zz"},
		{"a space", "soft:id=" + testID + ";object=a b"},
		{"a query", "soft:id=" + testID + "?pin-value=1234"},
		{"an object that is not UTF-8", "soft:id=" + testID + ";object=%ff"},
	}
	for _, tc := range invalid {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			got, err := parseURI(tc.uri)
			if !errors.Is(err, hsm.ErrInvalidURI) {
				t.Errorf("parseURI(%q) = %+v, %v; want ErrInvalidURI", tc.uri, got, err)
			}
		})
	}
}

func FuzzParseURI(f *testing.F) {
	for _, seed := range []string{
		formatURI(testID, "oidc-signing-20261129"),
		formatURI(testID, "a;b=c%d é/?"),
		"soft:id=" + testID,
		"soft:object=x;id=" + testID,
		"soft:id=" + testID + ";object=%zz",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		k, err := parseURI(uri)
		if err != nil {
			if !errors.Is(err, hsm.ErrInvalidURI) {
				t.Fatalf("parseURI(%q): error %v does not wrap ErrInvalidURI", uri, err)
			}
			return
		}
		// What parses, formats back to a URI that parses the same.
		again, err := parseURI(formatURI(k.id, k.label))
		if err != nil || again.id != k.id || again.label != k.label {
			t.Fatalf("round trip of %q: %+v, %v", uri, again, err)
		}
	})
}
