package attr_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"eidp/vault/attr"
)

// str is a JSON string holding s.
func str(s string) json.RawMessage {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

// email254 is an address of the greatest length accepted, 254 octets.
var email254 = "a@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 57) + ".hk"

func TestValidateNormalisesGoodValues(t *testing.T) {
	tests := []struct {
		name string
		attr attr.Name
		in   json.RawMessage
		want string
	}{
		{"a bare 8-digit mobile is a Hong Kong number", attr.MobilePhone, str("9123 4567"), `"+85291234567"`},
		{"a mobile with +852, spaces and a hyphen", attr.MobilePhone, str(" +852 9123-4567 "), `"+85291234567"`},
		{"a mobile in full-width digits from a Chinese input method", attr.MobilePhone, str("＋８５２ ９１２３ ４５６７"), `"+85291234567"`},
		{"a mobile beginning with 4", attr.MobilePhone, str("46012345"), `"+85246012345"`},
		{"a mobile beginning with 7", attr.MobilePhone, str("7071 2345"), `"+85270712345"`},
		{"a mobile beginning with 8", attr.MobilePhone, str("8481 2345"), `"+85284812345"`},
		{"a foreign mobile keeps its country code", attr.MobilePhone, str("+44 7911 123456"), `"+447911123456"`},
		{"a mainland mobile of 11 digits", attr.MobilePhone, str("+86 139 1234 5678"), `"+8613912345678"`},
		{"a Hong Kong fixed line as other phone", attr.OtherPhone, str("+852 2123 4567"), `"+85221234567"`},
		{"a bare fixed line as other phone", attr.OtherPhone, str("3123-4567"), `"+85231234567"`},
		{"a foreign number with parentheses as other phone", attr.OtherPhone, str("+1 (425) 555-1212"), `"+14255551212"`},
		{"an email's domain is lower-cased, its local part kept", attr.Email, str("  Chan.TaiMan@Example.COM "), `"Chan.TaiMan@example.com"`},
		{"an email with atext specials", attr.Email, str("o'brien+vault@mail.gov.hk"), `"o'brien+vault@mail.gov.hk"`},
		{"an email at an internationalised domain in xn-- form", attr.Email, str("info@xn--fsqu00a.xn--j6w193g"), `"info@xn--fsqu00a.xn--j6w193g"`},
		{"an email of exactly 254 octets", attr.Email, str(email254), `"` + email254 + `"`},
		{"an email with a 64-octet local part", attr.Email, str(strings.Repeat("a", 64) + "@example.com"), `"` + strings.Repeat("a", 64) + `@example.com"`},
		{"a preferred language", attr.PreferredLanguage, str("zh-Hant"), `"zh-Hant"`},
		{"a preferred language in another letter case", attr.PreferredLanguage, str(" ZH-HANT "), `"zh-Hant"`},
		{"an education level", attr.EducationLevel, str("bachelor"), `"bachelor"`},
		{"a marital status", attr.MaritalStatus, str("Married"), `"married"`},
		{"an occupation with its white space collapsed", attr.Occupation, str("  Registered \t nurse\n"), `"Registered nurse"`},
		{"an occupation in Chinese", attr.Occupation, str("註冊護士"), `"註冊護士"`},
		{
			"a structured address gets its region from the district", attr.ResidentialAddress,
			json.RawMessage(`{"flat":"A","floor":"12","block":"3","building":" Sunshine  Court ","street_number":"123","street":"Queen's Road Central","district":"wan-chai"}`),
			`{"flat":"A","floor":"12","block":"3","building":"Sunshine Court","street_number":"123","street":"Queen's Road Central","district":"wan-chai","region":"hk-island"}`,
		},
		{
			"a structured address with a building only and a matching region", attr.CorrespondenceAddress,
			json.RawMessage(`{"building":"Kam Hung House","estate":"Choi Hung Estate","district":"Wong-Tai-Sin","region":"KOWLOON"}`),
			`{"building":"Kam Hung House","estate":"Choi Hung Estate","district":"wong-tai-sin","region":"kowloon"}`,
		},
		{
			"a structured address with a street and number only", attr.ResidentialAddress,
			json.RawMessage(`{"street_number":"2-4","street":"Tai Po Road","district":"sha-tin"}`),
			`{"street_number":"2-4","street":"Tai Po Road","district":"sha-tin","region":"new-territories"}`,
		},
		{
			"a free-text address alone, its lines cleaned", attr.CorrespondenceAddress,
			json.RawMessage(`{"free_text":"  Flat 3,  10 Downing Street \r\n\r\nLondon SW1A 2AA\n United Kingdom  "}`),
			`{"free_text":"Flat 3, 10 Downing Street\nLondon SW1A 2AA\nUnited Kingdom"}`,
		},
		{
			"a structured address whose other members are empty strings, as a form posts them", attr.ResidentialAddress,
			json.RawMessage(`{"flat":"","floor":" ","block":"","building":"IFC","estate":"","street_number":"","street":"","district":"central-western","region":"","free_text":""}`),
			`{"building":"IFC","district":"central-western","region":"hk-island"}`,
		},
		{
			"an emergency contact", attr.EmergencyContact,
			json.RawMessage(`{"name":" Chan  Tai Man ","relationship":"spouse","phone":"6123 4567"}`),
			`{"name":"Chan Tai Man","relationship":"spouse","phone":"+85261234567"}`,
		},
		{
			"an emergency contact abroad on a fixed line", attr.EmergencyContact,
			json.RawMessage(`{"name":"陳大文","relationship":"Sibling","phone":"+61 2 9876 5432"}`),
			`{"name":"陳大文","relationship":"sibling","phone":"+61298765432"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := attr.Validate(tt.attr, tt.in)
			if err != nil {
				t.Fatalf("Validate(%s, %s): %v", tt.attr, tt.in, err)
			}
			if string(got) != tt.want {
				t.Fatalf("Validate(%s, %s) = %s, want %s", tt.attr, tt.in, got, tt.want)
			}
			again, err := attr.Validate(tt.attr, got)
			if err != nil || string(again) != string(got) {
				t.Fatalf("canonical value %s re-validates to %s, %v", got, again, err)
			}
		})
	}
}

func TestValidateRefusesBadValues(t *testing.T) {
	tests := []struct {
		name  string
		attr  attr.Name
		in    json.RawMessage
		field string
		code  string
	}{
		{"a Hong Kong fixed line is not a mobile", attr.MobilePhone, str("+852 2123 4567"), "", attr.CodePhoneHKMobile},
		{"a bare fixed line is not a mobile", attr.MobilePhone, str("3123 4567"), "", attr.CodePhoneHKMobile},
		{"a 7-digit Hong Kong number", attr.MobilePhone, str("9123 456"), "", attr.CodePhoneHKMobile},
		{"a 7-digit number after +852", attr.OtherPhone, str("+852 9123 456"), "", attr.CodePhoneHK},
		{"a 9-digit number after +852", attr.MobilePhone, str("+852 9123 45678"), "", attr.CodePhoneHKMobile},
		{"a Hong Kong number beginning with 1", attr.OtherPhone, str("+852 1234 5678"), "", attr.CodePhoneHK},
		{"a premium-rate level is not a mobile", attr.MobilePhone, str("9001 2345"), "", attr.CodePhoneHKMobile},
		{"a toll-free level is not a subscriber number", attr.OtherPhone, str("8001 2345"), "", attr.CodePhoneHK},
		{"letters in a phone number", attr.MobilePhone, str("9123 45G7"), "", attr.CodePhoneFormat},
		{"an extension", attr.OtherPhone, str("+44 20 7946 0958 ext 12"), "", attr.CodePhoneFormat},
		{"16 digits after the +", attr.OtherPhone, str("+4412345678901234"), "", attr.CodePhoneFormat},
		{"7 digits after the +", attr.OtherPhone, str("+4412345"), "", attr.CodePhoneFormat},
		{"a country code beginning with 0", attr.MobilePhone, str("+0123456789"), "", attr.CodePhoneFormat},
		{"an international number without its +", attr.MobilePhone, str("85291234567"), "", attr.CodePhoneFormat},
		{"two plus signs", attr.MobilePhone, str("++85291234567"), "", attr.CodePhoneFormat},
		{"an empty phone", attr.MobilePhone, str("  "), "", attr.CodeRequired},
		{"a phone as a JSON number", attr.MobilePhone, json.RawMessage(`91234567`), "", attr.CodeMalformed},
		{"an email without @", attr.Email, str("chan.example.com"), "", attr.CodeEmailFormat},
		{"an email with two @", attr.Email, str("chan@tai@example.com"), "", attr.CodeEmailFormat},
		{"an email without a dot in its domain", attr.Email, str("chan@localhost"), "", attr.CodeEmailFormat},
		{"an email at an address literal", attr.Email, str("chan@[192.0.2.1]"), "", attr.CodeEmailFormat},
		{"an email at a numeric top-level domain", attr.Email, str("chan@192.0.2.1"), "", attr.CodeEmailFormat},
		{"an email with consecutive dots", attr.Email, str("chan..tai@example.com"), "", attr.CodeEmailFormat},
		{"an email beginning with a dot", attr.Email, str(".chan@example.com"), "", attr.CodeEmailFormat},
		{"an email with a quoted local part", attr.Email, str(`"chan tai"@example.com`), "", attr.CodeEmailFormat},
		{"an email with a space", attr.Email, str("chan tai@example.com"), "", attr.CodeEmailFormat},
		{"an email with a label beginning with a hyphen", attr.Email, str("chan@-example.com"), "", attr.CodeEmailFormat},
		{"an email with a Unicode domain", attr.Email, str("chan@例子.香港"), "", attr.CodeEmailFormat},
		{"an email with a 65-octet local part", attr.Email, str(strings.Repeat("a", 65) + "@example.com"), "", attr.CodeEmailLocalTooLong},
		{"an email of 255 octets", attr.Email, str("a@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 58) + ".hk"), "", attr.CodeTooLong},
		{"an empty email", attr.Email, str(""), "", attr.CodeRequired},
		{"a language eidp does not serve", attr.PreferredLanguage, str("fr"), "", attr.CodeUnknownOption},
		{"Simplified Chinese is not a preferred language eidp serves", attr.PreferredLanguage, str("zh-Hans"), "", attr.CodeUnknownOption},
		{"an education level not in the list", attr.EducationLevel, str("kindergarten"), "", attr.CodeUnknownOption},
		{"a marital status not in the list", attr.MaritalStatus, str("complicated"), "", attr.CodeUnknownOption},
		{"an empty marital status", attr.MaritalStatus, str(""), "", attr.CodeRequired},
		{"an occupation of 101 characters", attr.Occupation, str(strings.Repeat("職", 101)), "", attr.CodeTooLong},
		{"an occupation with a control character", attr.Occupation, str("nurse\x00"), "", attr.CodeInvalidCharacters},
		{"an occupation with a right-to-left override", attr.Occupation, str("nurse\u202Eesrun"), "", attr.CodeInvalidCharacters},
		{"an occupation that was not UTF-8", attr.Occupation, json.RawMessage("\"nurse\xff\""), "", attr.CodeInvalidCharacters},
		{"an empty occupation", attr.Occupation, str(" \n "), "", attr.CodeRequired},
		{"an empty structured address", attr.ResidentialAddress, json.RawMessage(`{}`), "", attr.CodeRequired},
		{"an address of empty strings", attr.ResidentialAddress, json.RawMessage(`{"building":" ","district":"","free_text":"\n"}`), "", attr.CodeRequired},
		{"a null address", attr.ResidentialAddress, json.RawMessage(`null`), "", attr.CodeRequired},
		{"an unknown district", attr.ResidentialAddress, json.RawMessage(`{"building":"IFC","district":"mong-kok"}`), "district", attr.CodeUnknownOption},
		{"an unknown region", attr.ResidentialAddress, json.RawMessage(`{"building":"IFC","district":"central-western","region":"lantau"}`), "region", attr.CodeUnknownOption},
		{"a district outside the region given", attr.ResidentialAddress, json.RawMessage(`{"building":"IFC","district":"central-western","region":"kowloon"}`), "region", attr.CodeRegionMismatch},
		{"a structured address without a district", attr.ResidentialAddress, json.RawMessage(`{"building":"IFC","region":"hk-island"}`), "district", attr.CodeRequired},
		{"a structured address with neither building nor street", attr.ResidentialAddress, json.RawMessage(`{"flat":"A","floor":"3","district":"wan-chai"}`), "", attr.CodeAddressIncomplete},
		{"a street without its number and no building", attr.ResidentialAddress, json.RawMessage(`{"street":"Hennessy Road","district":"wan-chai"}`), "", attr.CodeAddressIncomplete},
		{"a street number without its street", attr.ResidentialAddress, json.RawMessage(`{"building":"IFC","street_number":"8","district":"central-western"}`), "street", attr.CodeStreetMissing},
		{"structured fields and free text together", attr.ResidentialAddress, json.RawMessage(`{"building":"IFC","district":"central-western","free_text":"8 Finance Street"}`), "", attr.CodeAddressMixed},
		{"a building name of 101 characters", attr.ResidentialAddress, json.RawMessage(`{"building":"` + strings.Repeat("a", 101) + `","district":"islands"}`), "building", attr.CodeTooLong},
		{"a flat of 21 characters", attr.ResidentialAddress, json.RawMessage(`{"flat":"` + strings.Repeat("1", 21) + `","building":"IFC","district":"islands"}`), "flat", attr.CodeTooLong},
		{"a free-text address of 7 lines", attr.CorrespondenceAddress, json.RawMessage(`{"free_text":"1\n2\n3\n4\n5\n6\n7"}`), "free_text", attr.CodeTooManyLines},
		{"a free-text address of 301 characters", attr.CorrespondenceAddress, json.RawMessage(`{"free_text":"` + strings.Repeat("x", 301) + `"}`), "free_text", attr.CodeTooLong},
		{"a free-text address with a control character", attr.CorrespondenceAddress, json.RawMessage(`{"free_text":"London\u0007"}`), "free_text", attr.CodeInvalidCharacters},
		{"an address with an unknown member", attr.ResidentialAddress, json.RawMessage(`{"building":"IFC","district":"islands","postcode":"x"}`), "", attr.CodeMalformed},
		{"an address with trailing data", attr.ResidentialAddress, json.RawMessage(`{"building":"IFC","district":"islands"} {}`), "", attr.CodeMalformed},
		{"an address given as a string", attr.ResidentialAddress, str("8 Finance Street"), "", attr.CodeMalformed},
		{"a value larger than MaxRawSize", attr.Occupation, str(strings.Repeat("a", attr.MaxRawSize)), "", attr.CodeTooLarge},
		{"not JSON at all", attr.Email, json.RawMessage(`chan@example.com`), "", attr.CodeMalformed},
		{"an emergency contact without a name", attr.EmergencyContact, json.RawMessage(`{"relationship":"parent","phone":"91234567"}`), "name", attr.CodeRequired},
		{"an emergency contact with an unknown relationship", attr.EmergencyContact, json.RawMessage(`{"name":"Chan","relationship":"boss","phone":"91234567"}`), "relationship", attr.CodeUnknownOption},
		{"an emergency contact with a 7-digit Hong Kong phone", attr.EmergencyContact, json.RawMessage(`{"name":"Chan","relationship":"parent","phone":"+852 2123 456"}`), "phone", attr.CodePhoneHK},
		{"an emergency contact without a phone", attr.EmergencyContact, json.RawMessage(`{"name":"Chan","relationship":"parent"}`), "phone", attr.CodeRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := attr.Validate(tt.attr, tt.in)
			if err == nil {
				t.Fatalf("Validate(%s, %s) = %s, want error %s on %q", tt.attr, tt.in, got, tt.code, tt.field)
			}
			if got != nil {
				t.Errorf("a refused value still returned %s", got)
			}
			if !errors.Is(err, attr.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			var errs *attr.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not *attr.Errors", err)
			}
			found := false
			for _, fe := range errs.List {
				if fe.Name != tt.attr {
					t.Errorf("FieldError names %s, want %s", fe.Name, tt.attr)
				}
				found = found || (fe.Field == tt.field && fe.Code == tt.code)
			}
			if !found {
				t.Fatalf("errors %v lack %s on field %q", err, tt.code, tt.field)
			}
			var fe *attr.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("errors.As cannot reach a *FieldError in %v", err)
			}
			assertNoEcho(t, tt.in, err)
		})
	}
}

// assertNoEcho checks that no message of err, in either language, nor its
// Error text, holds any text of the refused value longer than 3
// characters (shorter ones, like "A" or "12", occur in ordinary words).
func assertNoEcho(t *testing.T, raw json.RawMessage, err error) {
	t.Helper()
	var errs *attr.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("%v is not *attr.Errors", err)
	}
	texts := append(errs.Messages(attr.English), errs.Messages(attr.TraditionalChinese)...)
	texts = append(texts, err.Error())
	for _, s := range stringsIn(raw) {
		for _, part := range append([]string{strings.TrimSpace(s)}, strings.Fields(s)...) {
			if len([]rune(part)) <= 3 {
				continue
			}
			for _, text := range texts {
				if strings.Contains(text, part) {
					t.Errorf("message %q echoes the value %q", text, part)
				}
			}
		}
	}
}

// stringsIn returns the JSON strings in raw: the value itself, or an
// object's members. Raw that is not JSON is returned as it is.
func stringsIn(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var m map[string]string
	if json.Unmarshal(raw, &m) == nil {
		var out []string
		for _, v := range m {
			out = append(out, v)
		}
		return out
	}
	return []string{string(raw)}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	raw := json.RawMessage(`{"name":"","relationship":"boss","phone":"123"}`)
	_, err := attr.Validate(attr.EmergencyContact, raw)
	var errs *attr.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate = %v, want *Errors", err)
	}
	var got []string
	for _, fe := range errs.List {
		got = append(got, fe.Field+":"+fe.Code)
	}
	want := []string{"name:required", "relationship:unknown_option", "phone:phone_format"}
	if !slices.Equal(got, want) {
		t.Fatalf("errors %v, want %v in form order", got, want)
	}
	if n := len(errs.For("phone")); n != 1 {
		t.Errorf("For(phone) has %d errors, want 1", n)
	}
	if msgs := errs.Messages("zh-Hant"); len(msgs) != 3 || !strings.Contains(msgs[0], "姓名") {
		t.Errorf("Chinese messages %q do not name the field 姓名 first", msgs)
	}
}

func TestValidateRefusesUnknownAttribute(t *testing.T) {
	_, err := attr.Validate("shoe_size", str("42"))
	if !errors.Is(err, attr.ErrUnknownName) {
		t.Fatalf("Validate(shoe_size) = %v, want ErrUnknownName", err)
	}
	if errors.Is(err, attr.ErrInvalid) {
		t.Errorf("an unknown attribute is not an invalid value: %v", err)
	}
}

func TestNoMessageEchoesTheValue(t *testing.T) {
	const marker = "Zq7Xk"
	bad := map[attr.Name]json.RawMessage{
		attr.ResidentialAddress:    json.RawMessage(`{"building":"` + marker + `","district":"` + marker + `","region":"` + marker + `"}`),
		attr.CorrespondenceAddress: json.RawMessage(`{"street":"` + marker + `","free_text":"` + marker + `\u0000"}`),
		attr.MobilePhone:           str("2" + marker + "7654321"),
		attr.OtherPhone:            str("+852 765432"),
		attr.Email:                 str(marker + "@@" + marker),
		attr.PreferredLanguage:     str(marker),
		attr.EducationLevel:        str(marker),
		attr.Occupation:            str(marker + strings.Repeat(" "+marker, 20)),
		attr.MaritalStatus:         str(marker),
		attr.EmergencyContact:      json.RawMessage(`{"name":"` + marker + "\u202e" + `","relationship":"` + marker + `","phone":"` + marker + `"}`),
	}
	for _, name := range attr.Names() {
		raw, ok := bad[name]
		if !ok {
			t.Fatalf("no bad value for %s", name)
		}
		_, err := attr.Validate(name, raw)
		if err == nil {
			t.Fatalf("Validate(%s, %s) accepted it", name, raw)
		}
		assertNoEcho(t, raw, err)
		for _, l := range []string{attr.English, attr.TraditionalChinese} {
			var errs *attr.Errors
			errors.As(err, &errs)
			for _, m := range errs.Messages(l) {
				if strings.Contains(m, marker) || strings.Contains(m, "765432") {
					t.Errorf("%s: message %q echoes the value", name, m)
				}
			}
		}
	}
}
