package pkcs11

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"eidp/hsm"
)

func TestParseURIAcceptsKeyURIs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want URI
	}{
		{
			name: "a URI as this backend writes it",
			in:   "pkcs11:token=eidp;id=%01%02%A0%ff;object=oidc-signing-2026;type=private",
			want: URI{Token: "eidp", ID: []byte{1, 2, 0xa0, 0xff}, Object: "oidc-signing-2026", Type: TypePrivate},
		},
		{
			name: "an id given as plain characters",
			in:   "pkcs11:id=key1",
			want: URI{ID: []byte("key1")},
		},
		{
			name: "the scheme in capitals (RFC 3986 §3.1)",
			in:   "PKCS11:id=%00",
			want: URI{ID: []byte{0}},
		},
		{
			name: "percent-encoded spaces and UTF-8 in labels (RFC 7512 §3 example)",
			in:   "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.;object=r%C3%A9sident;id=%2A",
			want: URI{Token: "Software PKCS#11 softtoken", Manufacturer: "Snake Oil, Inc.", Object: "résident", ID: []byte("*")},
		},
		{
			name: "characters the path may hold unencoded, & among them",
			in:   "pkcs11:object=a:b[c]@!$'()*+,=&~._-;id=1",
			want: URI{Object: "a:b[c]@!$'()*+,=&~._-", ID: []byte("1")},
		},
		{
			name: "library, slot and vendor attributes kept in order",
			in:   "pkcs11:library-manufacturer=OpenSC%20Project;library-version=0.23;slot-id=7;x-vendor=v;future-attr=f;id=%42;serial=0123;model=SoftHSM%20v2",
			want: URI{ID: []byte("B"), Serial: "0123", Model: "SoftHSM v2", Other: []Attribute{
				{"library-manufacturer", "OpenSC Project"}, {"library-version", "0.23"}, {"slot-id", "7"},
				{"x-vendor", "v"}, {"future-attr", "f"},
			}},
		},
		{
			name: "a query with module path; pin-value dropped",
			in:   "pkcs11:id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234&x-q=a/b?c|d",
			want: URI{ID: []byte{1}, Query: []Attribute{
				{"module-path", "/usr/lib/softhsm/libsofthsm2.so"}, {"x-q", "a/b?c|d"},
			}},
		},
		{
			name: "an empty query",
			in:   "pkcs11:id=%01?",
			want: URI{ID: []byte{1}},
		},
		{
			name: "every object type",
			in:   "pkcs11:id=%01;type=secret-key",
			want: URI{ID: []byte{1}, Type: TypeSecretKey},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseURI(tc.in)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("ParseURI(%q)\n got %#v\nwant %#v", tc.in, *got, tc.want)
			}
		})
	}
}

func TestParseURIRejectsMalformedURIs(t *testing.T) {
	tests := []struct{ name, in string }{
		{"an empty string", ""},
		{"another scheme", "https://example.com/key"},
		{"the scheme alone (no id)", "pkcs11:"},
		{"no id", "pkcs11:token=eidp;object=k;type=private"},
		{"an empty id", "pkcs11:id="},
		{"an id only in the query", "pkcs11:token=t?id=%01"},
		{"an attribute twice", "pkcs11:id=%01;id=%02"},
		{"pin-value twice", "pkcs11:id=%01?pin-value=1&pin-value=2"},
		{"an attribute without =", "pkcs11:id=%01;token"},
		{"an empty attribute", "pkcs11:id=%01;;token=t"},
		{"a trailing ;", "pkcs11:id=%01;"},
		{"an empty attribute name", "pkcs11:=x;id=%01"},
		{"a name with a bad character", "pkcs11:to.ken=x;id=%01"},
		{"a truncated escape", "pkcs11:id=%0"},
		{"a truncated escape at the end", "pkcs11:id=%01%"},
		{"a non-hex escape", "pkcs11:id=%zz"},
		{"a space", "pkcs11:token=my token;id=%01"},
		{"a slash in the path", "pkcs11:token=a/b;id=%01"},
		{"a | in the path", "pkcs11:token=a|b;id=%01"},
		{"an & in the query value", "pkcs11:id=%01?module-name=a&b"},
		{"a fragment", "pkcs11:id=%01#frag"},
		{"an unknown type", "pkcs11:id=%01;type=secret"},
		{"invalid UTF-8 in a label", "pkcs11:id=%01;object=%C3%28"},
		{"a library-version that is no version", "pkcs11:id=%01;library-version=1.x"},
		{"a slot-id that is no number", "pkcs11:id=%01;slot-id=-1"},
		{"a slot-id out of range", "pkcs11:id=%01;slot-id=99999999999999999999999"},
		{"a non-ASCII byte", "pkcs11:id=%01;object=é"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			if !errors.Is(err, hsm.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q) = %v, %v; want an error wrapping hsm.ErrInvalidURI", tc.in, u, err)
			}
		})
	}
}

func TestParseURIErrorsNeverEchoAPIN(t *testing.T) {
	_, err := ParseURI("pkcs11:token=t?pin-value=sup3rsecret")
	if err == nil || strings.Contains(err.Error(), "sup3rsecret") {
		t.Errorf("ParseURI error %v must exist and not contain the PIN", err)
	}
	_, err = ParseURI("pkcs11:id=%01?pin-value=sup3rsecret%zz")
	if err == nil || strings.Contains(err.Error(), "sup3rsecret") {
		t.Errorf("ParseURI error %v must exist and not contain the PIN", err)
	}
}

func TestURIString(t *testing.T) {
	tests := []struct {
		name string
		in   URI
		want string
	}{
		{
			name: "a private key",
			in:   URI{Token: "eidp", ID: []byte{0x00, 0x1f, 0xab}, Object: "oidc-signing", Type: TypePrivate},
			want: "pkcs11:token=eidp;id=%00%1F%AB;object=oidc-signing;type=private",
		},
		{
			name: "a secret key with a label that needs escaping",
			in:   URI{Token: "my token", ID: []byte("a"), Object: "vault;kek/1 é", Type: TypeSecretKey},
			want: "pkcs11:token=my%20token;id=%61;object=vault%3Bkek%2F1%20%C3%A9;type=secret-key",
		},
		{
			name: "an empty label is left out",
			in:   URI{Token: "t", ID: []byte{1}},
			want: "pkcs11:token=t;id=%01",
		},
		{
			name: "other path attributes and a query",
			in: URI{ID: []byte{1}, Other: []Attribute{{"x-a", ""}, {"slot-id", "3"}},
				Query: []Attribute{{"module-path", "/usr/lib/x.so"}, {"x-b", "1&2"}}},
			want: "pkcs11:id=%01;x-a=;slot-id=3?module-path=/usr/lib/x.so&x-b=1%262",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			back, err := ParseURI(tc.want)
			if err != nil {
				t.Fatalf("ParseURI(String()): %v", err)
			}
			if back.String() != tc.want {
				t.Errorf("round trip: %q became %q", tc.want, back.String())
			}
		})
	}
}

// FuzzParseURI checks that ParseURI never panics and that whatever it
// accepts formats to a URI that parses to the same value and formats alike.
func FuzzParseURI(f *testing.F) {
	for _, seed := range []string{
		"pkcs11:token=eidp;id=%5A%0F%11%22%33%44%55%66%77%88%99%AA%BB%CC%DD%EE;object=oidc-signing-20261129;type=private",
		"pkcs11:token=eidp;id=%01%02;object=vault-kek;type=secret-key",
		"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
		"pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
		"pkcs11:token=Software%20PKCS%2311%20softtoken;id=%01?pin-value=1234&module-path=/usr/lib/libsofthsm2.so",
		"pkcs11:slot-description=Sun%20Metaslot;id=%01;library-version=1.1;slot-id=1",
		"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert;id=%01",
		"pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert;id=%01",
		"pkcs11:x-vendor-attr=foo%20bar;id=%01?x-q=a/b|c",
		"pkcs11:id=%0",
		"PKCS11:id=x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		u, err := ParseURI(in)
		if err != nil {
			if !errors.Is(err, hsm.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q): error %v does not wrap hsm.ErrInvalidURI", in, err)
			}
			return
		}
		if len(u.ID) == 0 {
			t.Fatalf("ParseURI(%q) accepted a URI without id", in)
		}
		s := u.String()
		u2, err := ParseURI(s)
		if err != nil {
			t.Fatalf("ParseURI(%q) ok, but its String %q does not parse: %v", in, s, err)
		}
		if !reflect.DeepEqual(u, u2) {
			t.Fatalf("round trip changed the URI:\n in  %q\n out %q\n %#v\n %#v", in, s, u, u2)
		}
		if s2 := u2.String(); s2 != s {
			t.Fatalf("String is not stable: %q then %q", s, s2)
		}
		for _, a := range u.Query {
			if a.Name == "pin-value" {
				t.Fatalf("pin-value kept from %q", in)
			}
		}
		if !bytes.HasPrefix([]byte(s), []byte("pkcs11:")) {
			t.Fatalf("String %q lacks the scheme", s)
		}
	})
}
