package attr

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

func decodeStored(name Name, value json.RawMessage) (Address, Contact, string, bool) {
	var (
		a  Address
		ec Contact
		s  string
	)
	var err error
	switch {
	case isAddress(name):
		err = json.Unmarshal(value, &a)
		if a.Region == "" {
			a.Region, _ = DistrictRegion(a.District)
		}
	case name == EmergencyContact:
		err = json.Unmarshal(value, &ec)
	case name.Known():
		err = json.Unmarshal(value, &s)
	default:
		return a, ec, s, false
	}
	return a, ec, s, err == nil
}

// enumLabel is the label of an enumerated attribute's value, or the value
// itself when it is not among the options (a value from a later schema).
func enumLabel(name Name, field, value, lang string) string {
	if l := optionLabel(name, field, value, lang); l != "" {
		return l
	}
	return value
}

// Display returns a stored value (canonical JSON, as Validate returned it)
// as one line for the resident to read in lang: an address as a Hong Kong
// address line, English from the flat outwards ("Flat A, 12/F, Block 3,
// Sunshine Court, 123 Queen's Road Central, Wan Chai, Hong Kong Island"),
// Chinese from the region inwards ("香港島灣仔區皇后大道中123號陽光閣3座12樓A室");
// a phone number grouped ("+852 9123 4567"); an option by its label. A
// value it cannot read gives "".
func Display(name Name, value json.RawMessage, lang string) string {
	l := language(lang)
	a, ec, s, ok := decodeStored(name, value)
	if !ok {
		return ""
	}
	switch name {
	case ResidentialAddress, CorrespondenceAddress:
		return a.display(l)
	case MobilePhone, OtherPhone:
		return displayPhone(s)
	case Email, Occupation:
		return s
	case EmergencyContact:
		return contactLine(ec, ec.Name, displayPhone(ec.Phone), l)
	}
	return enumLabel(name, "", s, l)
}

// Preview returns what the consent page shows of a stored value: enough
// for the resident to recognise which value would be released, not the
// whole of it, so that a glance over the shoulder learns little.
//
//   - Phone numbers: the country code, the first digit and the last three
//     digits: "+852 9•••• 567".
//   - Email: the first and last characters of the local part and the
//     domain: "c•••n@example.com".
//   - Addresses: the building (or the street, without its number) and the
//     district: "Sunshine Court, Wan Chai" / "灣仔區陽光閣"; a free-text
//     address its last part ("…, London").
//   - Emergency contact: the first character of the name, the
//     relationship and the phone as above: "C••• (Spouse), +852 9•••• 567".
//   - Options (language, education level, marital status) and the
//     occupation: in full; they are short and say nothing more in part.
//
// A value it cannot read gives "".
func Preview(name Name, value json.RawMessage, lang string) string {
	l := language(lang)
	a, ec, s, ok := decodeStored(name, value)
	if !ok {
		return ""
	}
	switch name {
	case ResidentialAddress, CorrespondenceAddress:
		return a.preview(l)
	case MobilePhone, OtherPhone:
		return previewPhone(s)
	case Email:
		return previewEmail(s)
	case Occupation:
		return s
	case EmergencyContact:
		initial := ""
		if r, _ := utf8.DecodeRuneInString(ec.Name); ec.Name != "" {
			initial = string(r) + "•••"
		}
		return contactLine(ec, initial, previewPhone(ec.Phone), l)
	}
	return enumLabel(name, "", s, l)
}

// contactLine writes an emergency contact: "Chan Tai Man (Spouse), +852
// 9123 4567" / "Chan Tai Man（配偶），+852 9123 4567".
func contactLine(ec Contact, who, phone, lang string) string {
	rel := enumLabel(EmergencyContact, FieldRelationship, ec.Relationship, lang)
	if lang == TraditionalChinese {
		return who + "（" + rel + "），" + phone
	}
	return strings.Join(nonEmpty(who+" ("+rel+")", phone), ", ")
}
