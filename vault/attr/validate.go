package attr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Contact is the value of emergency_contact: whom to call about the
// resident, and how. (It cannot be called EmergencyContact: that is the
// attribute's Name.)
type Contact struct {
	Name         string `json:"name"`         // as the resident writes it, ≤ 100 characters
	Relationship string `json:"relationship"` // one of Options(EmergencyContact, "relationship", …)
	Phone        string `json:"phone"`        // E.164, "+85291234567"
}

// Validate checks the raw JSON value of attribute name, normalises it, and
// returns its canonical JSON: the form the vault stores, that Display,
// Preview and ClaimValue read, and that Validate returns unchanged.
// doc.go gives each attribute's shape and rules.
//
// A value refused gives *Errors (errors.Is ErrInvalid), listing a
// *FieldError for each problem found; their messages never contain the
// value. An attribute not in the catalogue gives ErrUnknownName.
func Validate(name Name, raw json.RawMessage) (json.RawMessage, error) {
	if !name.Known() {
		return nil, fmt.Errorf("attr: validate %q: %w", name, ErrUnknownName)
	}
	c := &collector{name: name}
	if len(raw) > MaxRawSize {
		c.add("", CodeTooLarge)
		return nil, c.err()
	}
	var out any
	switch name {
	case ResidentialAddress, CorrespondenceAddress:
		var a Address
		if !decode(c, raw, &a) {
			return nil, c.err()
		}
		out = validateAddress(c, a)
	case EmergencyContact:
		var ec Contact
		if !decode(c, raw, &ec) {
			return nil, c.err()
		}
		out = validateContact(c, ec)
	default:
		var s string
		if !decode(c, raw, &s) {
			return nil, c.err()
		}
		out = validateString(c, name, s)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return encode(out)
}

// decode reads raw strictly into v: one JSON value of v's type, no unknown
// members, nothing after it.
func decode(c *collector, raw json.RawMessage, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		c.add("", CodeMalformed)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		c.add("", CodeMalformed)
		return false
	}
	return true
}

// encode is the canonical JSON: json.Marshal's, without HTML escaping (the
// value is data, not markup; templates escape it where it is shown).
func encode(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("attr: encode: %w", err)
	}
	return json.RawMessage(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

// validateString checks the attributes whose value is one JSON string.
func validateString(c *collector, name Name, s string) string {
	switch name {
	case MobilePhone, OtherPhone:
		return checkPhone(c, "", s, name == MobilePhone)
	case Email:
		if oneLine(s) == "" {
			c.add("", CodeRequired)
			return ""
		}
		addr, code := normaliseEmail(s)
		switch code {
		case "":
		case CodeTooLong:
			c.add("", CodeTooLong, "max", strconv.Itoa(maxEmail))
		default:
			c.add("", code)
		}
		return addr
	case Occupation:
		s = checkLine(c, "", s, maxOccupation)
		if s == "" {
			c.add("", CodeRequired)
		}
		return s
	default: // the enumerations
		return checkChoice(c, name, "", s)
	}
}

// checkPhone normalises a phone number to E.164 and adds what is wrong
// with it to c.
func checkPhone(c *collector, field, s string, mobile bool) string {
	if oneLine(s) == "" {
		c.add(field, CodeRequired)
		return ""
	}
	e164, code := normalisePhone(s, mobile)
	if code != "" {
		c.add(field, code)
	}
	return e164
}

// checkChoice returns the canonical value of an enumerated field.
func checkChoice(c *collector, name Name, field, s string) string {
	s = oneLine(s)
	if s == "" {
		c.add(field, CodeRequired)
		return ""
	}
	v, ok := matchChoice(choicesFor(name, field), s)
	if !ok {
		c.add(field, CodeUnknownOption)
	}
	return v
}

func validateContact(c *collector, ec Contact) Contact {
	ec.Name = checkLine(c, FieldName, ec.Name, maxContactName)
	if ec.Name == "" {
		c.add(FieldName, CodeRequired)
	}
	ec.Relationship = checkChoice(c, EmergencyContact, FieldRelationship, ec.Relationship)
	// The person to call in an emergency may be anywhere: any E.164
	// number, with the Hong Kong rules for +852 (any subscriber number,
	// fixed or mobile).
	ec.Phone = checkPhone(c, FieldPhone, ec.Phone, false)
	return ec
}
