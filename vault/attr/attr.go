package attr

import (
	"errors"
	"slices"
	"strings"
)

// SchemaVersion is the version of the value shapes this package accepts and
// produces. The vault binds it into each ciphertext's associated data, so a
// value stored under one shape is never read as another: bump it when a
// value's JSON shape or its canonical form changes.
const SchemaVersion = 1

// Name names an attribute of the catalogue. Names are stored in the vault
// (vault_attributes.name) and never change; labels do.
type Name string

// The attributes a resident may keep in the vault; doc.go describes each.
const (
	ResidentialAddress    Name = "residential_address"
	CorrespondenceAddress Name = "correspondence_address"
	MobilePhone           Name = "mobile_phone"
	OtherPhone            Name = "other_phone"
	Email                 Name = "email"
	PreferredLanguage     Name = "preferred_language"
	EducationLevel        Name = "education_level"
	Occupation            Name = "occupation"
	MaritalStatus         Name = "marital_status"
	EmergencyContact      Name = "emergency_contact"
)

// Languages of labels and messages, as BCP 47 tags (the tags web/ and the
// OIDC ui_locales parameter use).
const (
	English            = "en"
	TraditionalChinese = "zh-Hant"
)

// ErrUnknownName is returned for a Name that is not in the catalogue.
var ErrUnknownName = errors.New("attr: unknown attribute")

// names is the catalogue in display order: the order of the resident's
// vault page and of the consent page.
var names = []Name{
	ResidentialAddress, CorrespondenceAddress, MobilePhone, OtherPhone, Email,
	PreferredLanguage, EducationLevel, Occupation, MaritalStatus, EmergencyContact,
}

// Names returns every attribute in display order.
func Names() []Name { return slices.Clone(names) }

// Parse returns the attribute named s, exactly as stored ("mobile_phone").
func Parse(s string) (Name, bool) {
	n := Name(s)
	return n, slices.Contains(names, n)
}

// Known reports whether n is in the catalogue.
func (n Name) Known() bool { return slices.Contains(names, n) }

// Fields of the structured values, the JSON member names of Address and
// EmergencyContact.
const (
	FieldFlat         = "flat"
	FieldFloor        = "floor"
	FieldBlock        = "block"
	FieldBuilding     = "building"
	FieldEstate       = "estate"
	FieldStreetNumber = "street_number"
	FieldStreet       = "street"
	FieldDistrict     = "district"
	FieldRegion       = "region"
	FieldFreeText     = "free_text"

	FieldName         = "name"
	FieldRelationship = "relationship"
	FieldPhone        = "phone"
)

var (
	addressFields = []string{
		FieldFlat, FieldFloor, FieldBlock, FieldBuilding, FieldEstate,
		FieldStreetNumber, FieldStreet, FieldDistrict, FieldRegion, FieldFreeText,
	}
	contactFields = []string{FieldName, FieldRelationship, FieldPhone}
)

// Fields returns the form fields of a structured attribute in form order
// (the JSON members of Address or Contact), or nil for an
// attribute whose value is a single string.
func Fields(name Name) []string {
	switch name {
	case ResidentialAddress, CorrespondenceAddress:
		return slices.Clone(addressFields)
	case EmergencyContact:
		return slices.Clone(contactFields)
	}
	return nil
}

// isAddress reports whether name's value is an Address.
func isAddress(name Name) bool {
	return name == ResidentialAddress || name == CorrespondenceAddress
}

// language maps a language tag to one this package has: any Chinese tag (zh,
// zh-Hant, zh-HK, zh-TW …) to Traditional Chinese, anything else to
// English. Tags are case-insensitive (RFC 5646 §2.1.1).
func language(tag string) string {
	t := strings.ToLower(strings.TrimSpace(tag))
	if t == "zh" || strings.HasPrefix(t, "zh-") {
		return TraditionalChinese
	}
	return English
}

// text is a label in both languages.
type text struct{ en, zh string }

func (t text) in(l string) string {
	if language(l) == TraditionalChinese {
		return t.zh
	}
	return t.en
}

var labels = map[Name]text{
	ResidentialAddress:    {"Residential address", "住址"},
	CorrespondenceAddress: {"Correspondence address", "通訊地址"},
	MobilePhone:           {"Mobile phone number", "流動電話號碼"},
	OtherPhone:            {"Other phone number", "其他電話號碼"},
	Email:                 {"Email address", "電郵地址"},
	PreferredLanguage:     {"Preferred language", "慣用語言"},
	EducationLevel:        {"Education level", "教育程度"},
	Occupation:            {"Occupation", "職業"},
	MaritalStatus:         {"Marital status", "婚姻狀況"},
	EmergencyContact:      {"Emergency contact", "緊急聯絡人"},
}

var fieldLabels = map[string]text{
	FieldFlat:         {"Flat / room", "室"},
	FieldFloor:        {"Floor", "樓層"},
	FieldBlock:        {"Block / tower", "座"},
	FieldBuilding:     {"Building", "大廈"},
	FieldEstate:       {"Estate / village", "屋苑／屋邨／村"},
	FieldStreetNumber: {"Street number", "門牌號數"},
	FieldStreet:       {"Street", "街道"},
	FieldDistrict:     {"District", "地區"},
	FieldRegion:       {"Region", "區域"},
	FieldFreeText:     {"Address (free text)", "地址（自由格式）"},
	FieldName:         {"Name", "姓名"},
	FieldRelationship: {"Relationship", "關係"},
	FieldPhone:        {"Phone number", "電話號碼"},
}

// Label returns the attribute's label in lang ("en" or "zh-Hant"; see
// language), or the name itself for an attribute not in the catalogue.
func Label(name Name, lang string) string {
	if t, ok := labels[name]; ok {
		return t.in(lang)
	}
	return string(name)
}

// FieldLabel returns the label of one form field of a structured attribute
// ("district" → "District" / "地區"); for field "" it is the attribute's
// Label. A field the attribute does not have is returned as it is.
func FieldLabel(name Name, field, lang string) string {
	if field == "" {
		return Label(name, lang)
	}
	if !slices.Contains(Fields(name), field) {
		return field
	}
	return fieldLabels[field].in(lang)
}
