package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// MaxRequestSize bounds the claims parameter, in bytes. The longest sensible
// request names every claim eidp has in both members with a few values; 8 KiB
// is several times that.
const MaxRequestSize = 8 << 10

// ErrInvalidClaims: the claims parameter is malformed (the authorization
// endpoint answers invalid_request). Errors wrapping it say what is wrong.
var ErrInvalidClaims = errors.New("claims: invalid claims parameter")

// Request is the claims request parameter (OIDC Core §5.5): the claims a
// client asks for from UserInfo and in the ID token, by name. A nil *Spec
// (the JSON null member) asks for a claim in the default, Voluntary manner.
//
// Request is also how the provider keeps the granted request in a grant:
// json.Marshal writes it, and json.Unmarshal reads it back through the same
// rules as ParseRequest (without the size limit).
type Request struct {
	UserInfo map[string]*Spec `json:"userinfo,omitempty"`
	IDToken  map[string]*Spec `json:"id_token,omitempty"`
}

// Spec is how one claim is asked for (OIDC Core §5.5.1).
type Spec struct {
	Essential bool  `json:"essential,omitempty"`
	Value     any   `json:"value,omitempty"`
	Values    []any `json:"values,omitempty"`
	// Provenance (member "eidp_provenance": true, an eidp extension that
	// other providers ignore as an unknown member, §5.5) asks for where a
	// vault claim's value comes from: released as the eidp_provenance
	// object beside the claims (see doc.go).
	Provenance bool `json:"eidp_provenance,omitempty"`
}

func (s *Spec) essential() bool { return s != nil && s.Essential }

// IsZero reports whether r asks for no claim at all.
func (r Request) IsZero() bool { return len(r.UserInfo) == 0 && len(r.IDToken) == 0 }

// Only returns r narrowed to the claims in names (what the resident
// consented to) and the protocol claims (Protocol: sub, acr, auth_time, ...;
// they need no consent and their requests still matter, an Essential acr
// for one). Everything else is dropped, claims eidp does not know included.
// name#zh-Hant matches whatever case its language tag was asked in. r is
// not modified; the result shares r's Specs, which nothing modifies.
func (r Request) Only(names []string) Request {
	keep := func(m map[string]*Spec) map[string]*Spec {
		out := make(map[string]*Spec)
		for name, spec := range m {
			if slices.Contains(names, canonicalName(name)) || slices.Contains(protocol, name) {
				out[name] = spec
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return Request{UserInfo: keep(r.UserInfo), IDToken: keep(r.IDToken)}
}

// ParseRequest parses the claims parameter s (OIDC Core §5.5): a JSON
// object, at most MaxRequestSize bytes, whose members userinfo and id_token
// (each absent, null or an object) map claim names to null or to an object
// with essential (a boolean), value (any JSON value) and values (an array).
// Other members, at either level, are ignored, as §5.5 and §5.5.1 require
// ("any members used that are not understood MUST be ignored"); member
// names are matched exactly. The value and values of an acr request must be
// strings (ACR values are strings; §5.5.1.1).
//
// An empty s is a parameter sent without a value, which RFC 6749 §3.1 says
// to treat as omitted: the zero Request, no error. Anything malformed is an
// error wrapping ErrInvalidClaims that says where and what is wrong.
func ParseRequest(s string) (Request, error) {
	if s == "" {
		return Request{}, nil
	}
	if len(s) > MaxRequestSize {
		return Request{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidClaims, MaxRequestSize)
	}
	return parseRequest([]byte(s))
}

// UnmarshalJSON reads a Request by the rules of ParseRequest, without its
// size limit, so that what a grant stored reads back exactly.
func (r *Request) UnmarshalJSON(b []byte) error {
	parsed, err := parseRequest(b)
	if err != nil {
		return err
	}
	*r = parsed
	return nil
}

// UnmarshalJSON reads a Spec by the rules of ParseRequest.
func (s *Spec) UnmarshalJSON(b []byte) error {
	parsed, err := parseSpec(b, "claim", false)
	if err != nil {
		return err
	}
	if parsed == nil {
		parsed = &Spec{} // json.Unmarshal handles null before calling us; be safe anyway
	}
	*s = *parsed
	return nil
}

func parseRequest(b []byte) (Request, error) {
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v) // for the syntax error's message and offset
		return Request{}, fmt.Errorf("%w: not valid JSON: %w", ErrInvalidClaims, err)
	}
	top, isNull, err := object(b)
	if err != nil || isNull {
		return Request{}, fmt.Errorf("%w: must be a JSON object, not %s", ErrInvalidClaims, kind(b))
	}
	var r Request
	if r.UserInfo, err = parseMember(top, "userinfo"); err != nil {
		return Request{}, err
	}
	if r.IDToken, err = parseMember(top, "id_token"); err != nil {
		return Request{}, err
	}
	return r, nil
}

// parseMember parses top[member], the userinfo or id_token object. An
// absent, null or empty member is nil.
func parseMember(top map[string]json.RawMessage, member string) (map[string]*Spec, error) {
	raw, ok := top[member]
	if !ok {
		return nil, nil
	}
	claims, isNull, err := object(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s must be an object of claim names, not %s", ErrInvalidClaims, member, kind(raw))
	}
	if isNull || len(claims) == 0 {
		return nil, nil
	}
	out := make(map[string]*Spec, len(claims))
	// Sorted, so that with several errors the same one is reported each time.
	for _, name := range slices.Sorted(maps.Keys(claims)) {
		spec, err := parseSpec(claims[name], member+"."+printableName(name), name == "acr")
		if err != nil {
			return nil, err
		}
		out[name] = spec
	}
	return out, nil
}

// parseSpec parses one claim's request, null or an object (OIDC Core
// §5.5.1); where names it in errors. stringValues requires value and
// values to hold strings only.
func parseSpec(raw json.RawMessage, where string, stringValues bool) (*Spec, error) {
	members, isNull, err := object(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s must be null or an object, not %s", ErrInvalidClaims, where, kind(raw))
	}
	if isNull {
		return nil, nil
	}
	spec := &Spec{}
	if raw, ok := members["essential"]; ok && !isJSONNull(raw) {
		if err := json.Unmarshal(raw, &spec.Essential); err != nil {
			return nil, fmt.Errorf("%w: %s.essential must be true or false, not %s", ErrInvalidClaims, where, kind(raw))
		}
	}
	if raw, ok := members["eidp_provenance"]; ok && !isJSONNull(raw) {
		if err := json.Unmarshal(raw, &spec.Provenance); err != nil {
			return nil, fmt.Errorf("%w: %s.eidp_provenance must be true or false, not %s", ErrInvalidClaims, where, kind(raw))
		}
	}
	if raw, ok := members["value"]; ok {
		if err := json.Unmarshal(raw, &spec.Value); err != nil {
			return nil, fmt.Errorf("%w: %s.value: %w", ErrInvalidClaims, where, err)
		}
		if _, isString := spec.Value.(string); stringValues && spec.Value != nil && !isString {
			return nil, fmt.Errorf("%w: %s.value must be a string, not %s", ErrInvalidClaims, where, kind(raw))
		}
	}
	if raw, ok := members["values"]; ok && !isJSONNull(raw) {
		if err := json.Unmarshal(raw, &spec.Values); err != nil {
			return nil, fmt.Errorf("%w: %s.values must be an array, not %s", ErrInvalidClaims, where, kind(raw))
		}
		for i, v := range spec.Values {
			if _, isString := v.(string); stringValues && !isString {
				return nil, fmt.Errorf("%w: %s.values[%d] must be a string", ErrInvalidClaims, where, i)
			}
		}
		if len(spec.Values) == 0 {
			spec.Values = nil // [] asks for nothing, like no values at all
		}
	}
	return spec, nil
}

// object decodes a JSON object into its members; isNull reports a JSON null.
// Any other JSON value is an error.
func object(b []byte) (members map[string]json.RawMessage, isNull bool, err error) {
	b = bytes.TrimSpace(b)
	if isJSONNull(b) {
		return nil, true, nil
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, false, errors.New("not an object")
	}
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, false, err
	}
	return members, false, nil
}

// printableName returns a claim name for an error message, which the
// provider may pass on as error_description: names that are short and
// within its character set (RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E) as
// they are, any other as a placeholder.
func printableName(name string) string {
	if name == "" || len(name) > 64 {
		return "(a claim)"
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			return "(a claim)"
		}
	}
	return name
}

func isJSONNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

// kind names the JSON type of b, for error messages; it never quotes the
// value itself.
func kind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
