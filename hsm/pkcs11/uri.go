package pkcs11

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"eidp/hsm"
)

// URI is a PKCS #11 URI (RFC 7512) that names one key: the token it lives on
// and the object's CKA_ID, CKA_LABEL and class. The zero value is not a valid
// key URI: ID is required.
type URI struct {
	// Token attributes, matched against CK_TOKEN_INFO (RFC 7512 §2.3).
	Token        string // "token": label
	Manufacturer string // "manufacturer": manufacturerID
	Serial       string // "serial": serialNumber
	Model        string // "model": model

	// Object attributes (RFC 7512 §2.3).
	ID     []byte // "id": CKA_ID, required
	Object string // "object": CKA_LABEL
	Type   string // "type": CKA_CLASS as "private", "public", "secret-key", "cert" or "data"

	// Other holds the remaining path attributes in their order: library-*,
	// slot-* and vendor-specific ones. They are kept so that a URI survives
	// a round trip, and otherwise ignored (RFC 7512 §2.5 leaves their
	// matching to the consumer).
	Other []Attribute
	// Query holds the query attributes (RFC 7512 §2.4) except pin-value,
	// which Parse drops so that a PIN never travels further: PINs come from
	// Options.
	Query []Attribute
}

// Attribute is one name=value pair of a URI, value percent-decoded.
type Attribute struct {
	Name, Value string
}

// Object class names of the RFC 7512 "type" attribute.
const (
	TypePrivate   = "private"
	TypePublic    = "public"
	TypeSecretKey = "secret-key"
	TypeCert      = "cert"
	TypeData      = "data"
)

const uriScheme = "pkcs11:"

// Character classes of RFC 7512 §2.3 on top of RFC 3986 "unreserved":
//
//	pk11-res-avail       = ":" / "[" / "]" / "@" / "!" / "$" /
//	                       "'" / "(" / ")" / "*" / "+" / "," / "="
//	pk11-path-res-avail  = pk11-res-avail / "&"
//	pk11-query-res-avail = pk11-res-avail / "/" / "?" / "|"
const (
	resAvail      = ":[]@!$'()*+,="
	pathResAvail  = resAvail + "&"
	queryResAvail = resAvail + "/?|"
)

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// ParseURI parses a key URI strictly: the scheme, attribute names and
// characters must follow the RFC 7512 §2.3 grammar, percent-encodings must be
// complete, a path attribute may appear only once, the known attributes must
// have valid values, and "id" must be present and non-empty. Unknown and
// vendor-specific attributes are accepted and kept. Errors wrap
// hsm.ErrInvalidURI; they never repeat the input, which may carry a PIN.
func ParseURI(s string) (*URI, error) {
	if len(s) < len(uriScheme) || !strings.EqualFold(s[:len(uriScheme)], uriScheme) {
		// RFC 3986 §3.1: scheme names are case-insensitive.
		return nil, invalidURI("it does not start with %q", uriScheme)
	}
	rest := s[len(uriScheme):]
	if strings.ContainsRune(rest, '#') {
		return nil, invalidURI("a fragment (#) is not allowed")
	}
	path, query, hasQuery := strings.Cut(rest, "?")

	u := &URI{}
	seen := map[string]bool{}
	if path != "" {
		for _, attr := range strings.Split(path, ";") {
			name, value, err := splitAttr(attr, pathResAvail, "path")
			if err != nil {
				return nil, err
			}
			if seen[name] {
				// RFC 7512 §2.3: an attribute must not appear more than once in the path.
				return nil, invalidURI("path attribute %q appears more than once", name)
			}
			seen[name] = true
			if err := u.setPath(name, value); err != nil {
				return nil, err
			}
		}
	}
	if hasQuery && query != "" {
		seenQ := map[string]bool{}
		for _, attr := range strings.Split(query, "&") {
			name, value, err := splitAttr(attr, queryResAvail, "query")
			if err != nil {
				return nil, err
			}
			switch name {
			case "pin-value", "pin-source", "module-name", "module-path":
				if seenQ[name] {
					return nil, invalidURI("query attribute %q appears more than once", name)
				}
				seenQ[name] = true
			}
			if name == "pin-value" {
				continue
			}
			u.Query = append(u.Query, Attribute{Name: name, Value: value})
		}
	}
	if len(u.ID) == 0 {
		return nil, invalidURI(`the "id" attribute is missing or empty: a key URI must name the object's CKA_ID`)
	}
	return u, nil
}

// splitAttr splits name=value, checks the characters and decodes the value.
func splitAttr(attr, extra, part string) (name, value string, err error) {
	name, raw, ok := strings.Cut(attr, "=")
	if !ok {
		return "", "", invalidURI("%s attribute without \"=\"", part)
	}
	if name == "" {
		return "", "", invalidURI("%s attribute with an empty name", part)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		// pk11-v-attr-nm-char = ALPHA / DIGIT / "-" / "_"
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", "", invalidURI("%s attribute name contains %q", part, c)
		}
	}
	value, err = percentDecode(raw, extra)
	if err != nil {
		return "", "", fmt.Errorf("%w (in attribute %q)", err, name)
	}
	return name, value, nil
}

func percentDecode(raw, extra string) (string, error) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) {
				return "", invalidURI("incomplete percent-encoding")
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return "", invalidURI("invalid percent-encoding")
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		case isUnreserved(c) || strings.IndexByte(extra, c) >= 0:
			b.WriteByte(c)
		default:
			return "", invalidURI("character %q must be percent-encoded", c)
		}
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (u *URI) setPath(name, value string) error {
	text := func(dst *string) error {
		// Labels and token strings are CK_UTF8CHAR (PKCS #11 v2.40 Base §3.2).
		if !utf8.ValidString(value) {
			return invalidURI("attribute %q is not valid UTF-8", name)
		}
		*dst = value
		return nil
	}
	switch name {
	case "token":
		return text(&u.Token)
	case "manufacturer":
		return text(&u.Manufacturer)
	case "serial":
		return text(&u.Serial)
	case "model":
		return text(&u.Model)
	case "object":
		return text(&u.Object)
	case "id":
		u.ID = []byte(value)
		return nil
	case "type":
		switch value {
		case TypePrivate, TypePublic, TypeSecretKey, TypeCert, TypeData:
			u.Type = value
			return nil
		}
		return invalidURI("type %q is not one of private, public, secret-key, cert, data", value)
	case "library-version":
		// RFC 7512 §2.3: pk11-lib-ver = "library-version" "=" 1*DIGIT [ "." 1*DIGIT ]
		major, minor, hasMinor := strings.Cut(value, ".")
		if !allDigits(major) || hasMinor && !allDigits(minor) {
			return invalidURI("library-version %q is not DIGITS[.DIGITS]", value)
		}
	case "slot-id":
		// pk11-slot-id = "slot-id" "=" 1*DIGIT (a decimal CK_SLOT_ID)
		if !allDigits(value) {
			return invalidURI("slot-id %q is not a decimal number", value)
		}
		if _, err := strconv.ParseUint(value, 10, 64); err != nil {
			return invalidURI("slot-id %q is out of range", value)
		}
	}
	u.Other = append(u.Other, Attribute{Name: name, Value: value})
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats the URI in the order token attributes, id, object, type,
// other path attributes, query. The id is percent-encoded byte by byte (RFC
// 7512 §2.3 recommends it for binary values); other values keep the
// characters the grammar allows and percent-encode the rest, with uppercase
// hex digits (RFC 3986 §2.1).
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString(uriScheme)
	first := true
	attr := func(name, value string, always bool) {
		if value == "" && !always {
			return
		}
		if !first {
			b.WriteByte(';')
		}
		first = false
		b.WriteString(name)
		b.WriteByte('=')
		percentEncode(&b, value, pathResAvail)
	}
	attr("token", u.Token, false)
	attr("manufacturer", u.Manufacturer, false)
	attr("serial", u.Serial, false)
	attr("model", u.Model, false)
	if len(u.ID) > 0 {
		if !first {
			b.WriteByte(';')
		}
		first = false
		b.WriteString("id=")
		for _, c := range u.ID {
			writePct(&b, c)
		}
	}
	attr("object", u.Object, false)
	attr("type", u.Type, false)
	for _, a := range u.Other {
		attr(a.Name, a.Value, true)
	}
	for i, a := range u.Query {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(a.Name)
		b.WriteByte('=')
		percentEncode(&b, a.Value, queryResAvail)
	}
	return b.String()
}

func percentEncode(b *strings.Builder, s, extra string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || strings.IndexByte(extra, c) >= 0 {
			b.WriteByte(c)
		} else {
			writePct(b, c)
		}
	}
}

func writePct(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&0xf])
}

// keyURI formats the URI this backend hands out for a key.
func keyURI(token string, id []byte, label, typ string) string {
	u := URI{Token: token, ID: id, Object: label, Type: typ}
	return u.String()
}

func invalidURI(format string, args ...any) error {
	return fmt.Errorf("pkcs11: %w: "+format, append([]any{hsm.ErrInvalidURI}, args...)...)
}
