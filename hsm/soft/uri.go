package soft

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"eidp/hsm"
)

// uriScheme prefixes every key URI of this backend. The attribute syntax
// follows RFC 7512 ("pkcs11:" URIs): ";"-separated name=value pairs whose
// values are percent-encoded (RFC 3986 §2.1), so both backends' URIs read
// alike in configuration and logs.
const uriScheme = "soft:"

// idLen is the length of a key id in hex: 16 random bytes.
const idLen = 2 * idBytes

// keyURI is a parsed "soft:" URI.
type keyURI struct {
	id string
	// label is the "object" attribute; hasLabel tells an empty label from
	// an absent one.
	label    string
	hasLabel bool
}

// formatURI writes the canonical URI of a key.
func formatURI(id, label string) string {
	return uriScheme + "id=" + id + ";object=" + percentEncode(label)
}

// parseURI parses a "soft:" URI strictly: the scheme, then "id" (required,
// 32 lowercase hex digits) and "object" (optional) once each, in any order,
// and nothing else. Errors wrap hsm.ErrInvalidURI.
func parseURI(uri string) (keyURI, error) {
	invalid := func(reason string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", hsm.ErrInvalidURI, quoteURI(uri), fmt.Sprintf(reason, args...))
	}
	rest, ok := strings.CutPrefix(uri, uriScheme)
	if !ok {
		return keyURI{}, invalid("not a soft key URI (want %sid=<hex id>;object=<label>)", uriScheme)
	}
	if rest == "" {
		return keyURI{}, invalid("no attributes")
	}
	var (
		k     keyURI
		hasID bool
	)
	for attr := range strings.SplitSeq(rest, ";") {
		name, raw, ok := strings.Cut(attr, "=")
		if !ok {
			return keyURI{}, invalid("attribute %q is not name=value", attr)
		}
		value, err := percentDecode(raw)
		if err != nil {
			return keyURI{}, invalid("attribute %q: %v", name, err)
		}
		switch name {
		case "id":
			if hasID {
				return keyURI{}, invalid("attribute id given twice")
			}
			// Checked before decoding: ids are written literally, never
			// percent-encoded, so each key has one canonical URI.
			if !validID(raw) {
				return keyURI{}, invalid("id must be %d lowercase hex digits", idLen)
			}
			k.id, hasID = value, true
		case "object":
			if k.hasLabel {
				return keyURI{}, invalid("attribute object given twice")
			}
			if !utf8.ValidString(value) {
				return keyURI{}, invalid("object is not valid UTF-8")
			}
			k.label, k.hasLabel = value, true
		default:
			return keyURI{}, invalid("unknown attribute %q (known: id, object)", name)
		}
	}
	if !hasID {
		return keyURI{}, invalid("attribute id is required")
	}
	return k, nil
}

// quoteURI quotes a URI for an error message, shortened if it is long: URIs
// come from configuration and databases and are never secret, but they may
// be arbitrarily long.
func quoteURI(uri string) string {
	const max = 120
	if len(uri) > max {
		return fmt.Sprintf("%q…", uri[:max])
	}
	return fmt.Sprintf("%q", uri)
}

func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isUnreserved reports RFC 3986 §2.3 unreserved characters, the only ones
// percentEncode leaves as they are.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isLiteralValueChar reports the characters RFC 7512 §2.3 allows unencoded
// in a path attribute value (pk11-v-attr-val-char without pct-encoded).
func isLiteralValueChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=&", c) >= 0
}

func percentEncode(s string) string {
	var b strings.Builder
	const digits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&0x0f])
	}
	return b.String()
}

func percentDecode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if len(s)-i < 3 {
				return "", fmt.Errorf("incomplete percent-encoding at byte %d", i)
			}
			v, err := hex.DecodeString(s[i+1 : i+3])
			if err != nil {
				return "", fmt.Errorf("invalid percent-encoding %q", s[i:i+3])
			}
			b.WriteByte(v[0])
			i += 2
		case isLiteralValueChar(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("character %q must be percent-encoded", c)
		}
	}
	return b.String(), nil
}
