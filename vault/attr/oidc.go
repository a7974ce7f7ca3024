package attr

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Scopes that release vault attributes: the standard ones of OpenID
// Connect Core §5.4 and eidp's own, each releasing one attribute. doc.go
// has the table.
const (
	ScopeAddress               = "address"
	ScopePhone                 = "phone"
	ScopeEmail                 = "email"
	ScopeCorrespondenceAddress = "eidp:correspondence_address"
	ScopeOtherPhone            = "eidp:other_phone"
	ScopePreferredLanguage     = "eidp:preferred_language"
	ScopeEducation             = "eidp:education"
	ScopeOccupation            = "eidp:occupation"
	ScopeMaritalStatus         = "eidp:marital_status"
	ScopeEmergencyContact      = "eidp:emergency_contact"
)

// Claim names of the vault attributes: the standard ones of Core §5.1 and
// eidp's own, prefixed eidp_ so that they cannot collide with a claim a
// later standard defines.
const (
	ClaimAddress               = "address"
	ClaimPhoneNumber           = "phone_number"
	ClaimPhoneNumberVerified   = "phone_number_verified"
	ClaimEmail                 = "email"
	ClaimEmailVerified         = "email_verified"
	ClaimCorrespondenceAddress = "eidp_correspondence_address"
	ClaimOtherPhone            = "eidp_other_phone"
	ClaimPreferredLanguage     = "eidp_preferred_language"
	ClaimEducationLevel        = "eidp_education_level"
	ClaimOccupation            = "eidp_occupation"
	ClaimMaritalStatus         = "eidp_marital_status"
	ClaimEmergencyContact      = "eidp_emergency_contact"
)

// release says how one attribute is asked for and released.
type release struct {
	name     Name
	scope    string
	claim    string
	verified string // the Core §5.1 *_verified claim beside it, if any
}

// releases in display order (the order of names).
var releases = []release{
	{ResidentialAddress, ScopeAddress, ClaimAddress, ""},
	{CorrespondenceAddress, ScopeCorrespondenceAddress, ClaimCorrespondenceAddress, ""},
	{MobilePhone, ScopePhone, ClaimPhoneNumber, ClaimPhoneNumberVerified},
	{OtherPhone, ScopeOtherPhone, ClaimOtherPhone, ""},
	{Email, ScopeEmail, ClaimEmail, ClaimEmailVerified},
	{PreferredLanguage, ScopePreferredLanguage, ClaimPreferredLanguage, ""},
	{EducationLevel, ScopeEducation, ClaimEducationLevel, ""},
	{Occupation, ScopeOccupation, ClaimOccupation, ""},
	{MaritalStatus, ScopeMaritalStatus, ClaimMaritalStatus, ""},
	{EmergencyContact, ScopeEmergencyContact, ClaimEmergencyContact, ""},
}

func releaseOf(name Name) (release, bool) {
	for _, r := range releases {
		if r.name == name {
			return r, true
		}
	}
	return release{}, false
}

// Scopes returns every scope that releases vault attributes, in display
// order, for discovery's scopes_supported (OpenID Connect Discovery 1.0
// §3).
func Scopes() []string {
	out := make([]string, len(releases))
	for i, r := range releases {
		out[i] = r.scope
	}
	return out
}

// ScopeNames returns the attributes a scope asks for (Core §5.4: address
// asks for the address claim, phone for phone_number, email for email),
// or nil for a scope that releases none of them.
func ScopeNames(scope string) []Name {
	for _, r := range releases {
		if r.scope == scope {
			return []Name{r.name}
		}
	}
	return nil
}

// ClaimName returns the claim an attribute is released as, or "" for a
// name not in the catalogue.
func ClaimName(name Name) string {
	r, _ := releaseOf(name)
	return r.claim
}

// VerifiedClaim returns the Core §5.1 claim that says whether the
// attribute's value was verified (phone_number_verified for mobile_phone,
// email_verified for email), or "" when the attribute has none. Its value
// comes from the attribute's provenance, which this package does not
// hold: true only when the vault records the value as verified.
func VerifiedClaim(name Name) string {
	r, _ := releaseOf(name)
	return r.verified
}

// ByClaim returns the attribute a claim releases. A *_verified claim
// (email_verified, phone_number_verified) is about its attribute too: a
// request for it is a request concerning that attribute. Claim names are
// case-sensitive (Core §5.1).
func ByClaim(claim string) (Name, bool) {
	for _, r := range releases {
		if claim == r.claim || (r.verified != "" && claim == r.verified) {
			return r.name, true
		}
	}
	return "", false
}

// Claims returns every claim a vault attribute can be released as,
// *_verified ones included, in display order, for discovery's
// claims_supported.
func Claims() []string {
	var out []string
	for _, r := range releases {
		out = append(out, r.claim)
		if r.verified != "" {
			out = append(out, r.verified)
		}
	}
	return out
}

// ClaimValue returns a stored value as released in an ID token or a
// UserInfo response, after checking it again with Validate:
//
//   - an address: the Core §5.1.1 Address Claim, a map with formatted (the
//     lines of the address separated by "\n"), street_address (the lines
//     below the district), locality (the district's name), region (the
//     region's name), country ("HK") and, for the structured parts,
//     eidp_hk (an Address without free_text: the fields and the codes of
//     district and region). Hong Kong has no postal codes, so there is
//     no postal_code. A free-text address is released as formatted
//     alone: it may be anywhere.
//   - phone numbers: the E.164 string, "+85291234567" (Core §5.1
//     phone_number: E.164 is RECOMMENDED).
//   - emergency_contact: a Contact ({name, relationship, phone}).
//   - everything else: the stored string (an option's value, not its
//     label: "zh-Hant", "bachelor").
//
// lang chooses the language of the address's names and lines (Core §5.2
// lets a claim carry one language; it is the one of the consent).
func ClaimValue(name Name, value json.RawMessage, lang string) (any, error) {
	canonical, err := Validate(name, value)
	if err != nil {
		return nil, fmt.Errorf("attr: claim value of %s: %w", name, err)
	}
	a, ec, s, _ := decodeStored(name, canonical)
	switch name {
	case ResidentialAddress, CorrespondenceAddress:
		return addressClaim(a, language(lang)), nil
	case EmergencyContact:
		return ec, nil
	}
	return s, nil
}

// addressClaim builds the Core §5.1.1 Address Claim.
func addressClaim(a Address, lang string) map[string]any {
	if a.FreeText != "" {
		return map[string]any{"formatted": a.FreeText}
	}
	out := map[string]any{
		"formatted": strings.Join(a.formattedLines(lang), "\n"),
		"country":   "HK", // ISO 3166-1 alpha-2
	}
	if s := strings.Join(a.streetLines(lang), "\n"); s != "" {
		out["street_address"] = s
	}
	if d := districtName(a.District, lang); d != "" {
		out["locality"] = d
	}
	if r := regionName(a.Region, lang); r != "" {
		out["region"] = r
	}
	hk := a
	hk.FreeText = ""
	out["eidp_hk"] = hk
	return out
}
