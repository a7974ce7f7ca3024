package attr_test

import (
	"encoding/json"
	"strings"
	"testing"

	"eidp/vault/attr"
)

// canonical validates raw and returns the stored form.
func canonical(t *testing.T, name attr.Name, raw string) json.RawMessage {
	t.Helper()
	v, err := attr.Validate(name, json.RawMessage(raw))
	if err != nil {
		t.Fatalf("Validate(%s, %s): %v", name, raw, err)
	}
	return v
}

const (
	addressEN = `{"flat":"A","floor":"12","block":"3","building":"Sunshine Court","estate":"Happy Estate","street_number":"123","street":"Queen's Road Central","district":"wan-chai"}`
	addressZH = `{"flat":"A","floor":"12","block":"3","building":"陽光閣","estate":"幸福邨","street_number":"123","street":"皇后大道中","district":"wan-chai"}`
	addressGF = `{"floor":"G","street_number":"2-4","street":"Tai Po Road","district":"sha-tin"}`
	addressFT = `{"free_text":"Flat 3, 10 Downing Street\nLondon SW1A 2AA\nUnited Kingdom"}`
	contact   = `{"name":"Chan Tai Man","relationship":"spouse","phone":"6123 4567"}`
)

func TestDisplayAndPreview(t *testing.T) {
	tests := []struct {
		name        string
		attr        attr.Name
		value       string
		lang        string
		display     string
		preview     string
		notInPrevew []string // parts of the value the preview must not show
	}{
		{"an English address in English", attr.ResidentialAddress, addressEN, "en",
			"Flat A, 12/F, Block 3, Sunshine Court, Happy Estate, 123 Queen's Road Central, Wan Chai, Hong Kong Island",
			"Sunshine Court, Wan Chai", []string{"Flat", "12/F", "123", "Block"}},
		{"an English address in Chinese", attr.ResidentialAddress, addressEN, "zh-Hant",
			"香港島灣仔區Queen's Road Central 123號Happy Estate Sunshine Court 3座12樓A室",
			"灣仔區Sunshine Court", []string{"12樓", "123", "A室"}},
		{"a Chinese address in Chinese", attr.CorrespondenceAddress, addressZH, "zh-Hant",
			"香港島灣仔區皇后大道中123號幸福邨陽光閣3座12樓A室",
			"灣仔區陽光閣", []string{"12樓", "123", "A室", "3座"}},
		{"a Chinese address in English", attr.CorrespondenceAddress, addressZH, "en",
			"Flat A, 12/F, Block 3, 陽光閣, 幸福邨, 123 皇后大道中, Wan Chai, Hong Kong Island",
			"陽光閣, Wan Chai", []string{"Flat", "123"}},
		{"a ground-floor shop on a street in English", attr.ResidentialAddress, addressGF, "en",
			"G/F, 2-4 Tai Po Road, Sha Tin, New Territories", "Tai Po Road, Sha Tin", []string{"2-4", "G/F"}},
		{"a ground-floor shop on a street in Chinese", attr.ResidentialAddress, addressGF, "zh-Hant",
			"新界沙田區Tai Po Road 2-4號地下", "沙田區Tai Po Road", []string{"2-4", "地下"}},
		{"a free-text address", attr.CorrespondenceAddress, addressFT, "en",
			"Flat 3, 10 Downing Street, London SW1A 2AA, United Kingdom", "…, United Kingdom", []string{"Downing", "SW1A"}},
		{"a free-text Chinese address on one line", attr.CorrespondenceAddress, `{"free_text":"澳門新馬路十號"}`, "zh-Hant",
			"澳門新馬路十號", "澳門新馬…", []string{"十號"}},
		{"a free-text Chinese address on two lines", attr.CorrespondenceAddress, `{"free_text":"新馬路十號\n澳門"}`, "zh-Hant",
			"新馬路十號，澳門", "…, 澳門", []string{"十號"}},
		{"a Hong Kong mobile", attr.MobilePhone, `"91234567"`, "en", "+852 9123 4567", "+852 9•••• 567", []string{"1234"}},
		{"a foreign mobile", attr.MobilePhone, `"+447911123456"`, "zh-Hant", "+44 7911123456", "+44 7•••••• 456", []string{"1112"}},
		{"a one-digit country code", attr.OtherPhone, `"+14255551212"`, "en", "+1 4255551212", "+1 4•••••• 212", []string{"555"}},
		{"a three-digit country code", attr.OtherPhone, `"+85366123456"`, "en", "+853 66123456", "+853 6•••• 456", []string{"612"}},
		{"an email", attr.Email, `"chan.taiman@example.com"`, "en", "chan.taiman@example.com", "c•••n@example.com", []string{"taiman"}},
		{"a two-letter local part", attr.Email, `"ab@example.com"`, "en", "ab@example.com", "a•••@example.com", []string{"ab@"}},
		{"a preferred language in English", attr.PreferredLanguage, `"zh-Hant"`, "en", "Traditional Chinese", "Traditional Chinese", nil},
		{"a preferred language in Chinese", attr.PreferredLanguage, `"en"`, "zh-Hant", "英文", "英文", nil},
		{"an education level", attr.EducationLevel, `"bachelor"`, "zh-Hant", "學士學位", "學士學位", nil},
		{"a marital status", attr.MaritalStatus, `"widowed"`, "en", "Widowed", "Widowed", nil},
		{"an occupation", attr.Occupation, `"Registered nurse"`, "en", "Registered nurse", "Registered nurse", nil},
		{"an emergency contact in English", attr.EmergencyContact, contact, "en",
			"Chan Tai Man (Spouse), +852 6123 4567", "C••• (Spouse), +852 6•••• 567", []string{"Tai Man", "1234"}},
		{"an emergency contact in Chinese", attr.EmergencyContact, contact, "zh-Hant",
			"Chan Tai Man（配偶），+852 6123 4567", "C•••（配偶），+852 6•••• 567", []string{"Tai Man", "1234"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := canonical(t, tt.attr, tt.value)
			if got := attr.Display(tt.attr, v, tt.lang); got != tt.display {
				t.Errorf("Display = %q, want %q", got, tt.display)
			}
			got := attr.Preview(tt.attr, v, tt.lang)
			if got != tt.preview {
				t.Errorf("Preview = %q, want %q", got, tt.preview)
			}
			for _, s := range tt.notInPrevew {
				if strings.Contains(got, s) {
					t.Errorf("Preview %q shows %q", got, s)
				}
			}
			if len([]rune(got)) > len([]rune(attr.Display(tt.attr, v, tt.lang)))+3 {
				t.Errorf("Preview %q is longer than the value", got)
			}
		})
	}
}

func TestDisplayOfUnreadableValues(t *testing.T) {
	for _, name := range attr.Names() {
		for _, bad := range []string{`{`, `42`, `[]`} {
			if got := attr.Display(name, json.RawMessage(bad), "en"); got != "" {
				t.Errorf("Display(%s, %s) = %q, want empty", name, bad, got)
			}
			if got := attr.Preview(name, json.RawMessage(bad), "en"); got != "" {
				t.Errorf("Preview(%s, %s) = %q, want empty", name, bad, got)
			}
		}
	}
	if got := attr.Display("shoe_size", json.RawMessage(`"42"`), "en"); got != "" {
		t.Errorf("Display of an unknown attribute = %q", got)
	}
}
