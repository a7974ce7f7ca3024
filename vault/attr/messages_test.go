package attr_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"eidp/vault/attr"
)

// codes is every error code; the test below checks it is complete.
var codes = []string{
	attr.CodeRequired, attr.CodeTooLong, attr.CodeTooManyLines, attr.CodeTooLarge,
	attr.CodeMalformed, attr.CodeInvalidCharacters, attr.CodePhoneFormat,
	attr.CodePhoneHKMobile, attr.CodePhoneHK, attr.CodeEmailFormat,
	attr.CodeEmailLocalTooLong, attr.CodeUnknownOption, attr.CodeRegionMismatch,
	attr.CodeAddressIncomplete, attr.CodeAddressMixed, attr.CodeStreetMissing,
}

func hasHan(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0
}

func TestEveryCodeHasASentenceInBothLanguages(t *testing.T) {
	if got, want := attr.MessageCodes(), slices.Sorted(slices.Values(codes)); !slices.Equal(got, want) {
		t.Fatalf("codes with sentences %v, the tests know %v", got, want)
	}
	for _, code := range codes {
		for _, name := range attr.Names() {
			for _, field := range append([]string{""}, attr.Fields(name)...) {
				fe := &attr.FieldError{Name: name, Field: field, Code: code, Args: map[string]string{"max": "20"}}
				en, zh := fe.Message("en"), fe.Message("zh-Hant")
				if en == "" || zh == "" || en == zh {
					t.Fatalf("%s on %s.%s: English %q, Chinese %q", code, name, field, en, zh)
				}
				if hasHan(en) && !hasHan(attr.FieldLabel(name, field, "en")) {
					t.Errorf("English sentence %q has Chinese in it", en)
				}
				if !hasHan(zh) {
					t.Errorf("Chinese sentence %q has no Chinese in it", zh)
				}
				for _, m := range []string{en, zh} {
					if strings.ContainsAny(m, "{}") || (strings.Contains(code, "_") && strings.Contains(m, code)) {
						t.Errorf("sentence %q has an unfilled placeholder or the bare code", m)
					}
				}
				if !strings.HasSuffix(en, ".") || !strings.HasSuffix(zh, "。") {
					t.Errorf("%q / %q: not whole sentences", en, zh)
				}
				if fe.Error() == "" || !strings.Contains(fe.Error(), en) {
					t.Errorf("Error() %q does not carry the English sentence %q", fe.Error(), en)
				}
			}
		}
	}
}

func TestMessagesNameTheFieldAndFillTheLimit(t *testing.T) {
	fe := &attr.FieldError{Name: attr.ResidentialAddress, Field: "building", Code: attr.CodeTooLong, Args: map[string]string{"max": "100"}}
	if got, want := fe.Message("en"), "Use at most 100 characters for “Building”."; got != want {
		t.Errorf("English %q, want %q", got, want)
	}
	if got, want := fe.Message("zh-Hant"), "「大廈」不可超過 100 個字元。"; got != want {
		t.Errorf("Chinese %q, want %q", got, want)
	}
	mobile := &attr.FieldError{Name: attr.MobilePhone, Code: attr.CodePhoneHKMobile}
	if got, want := mobile.Message("en"), "Enter a Hong Kong mobile number of 8 digits starting with 4, 5, 6, 7, 8 or 9."; got != want {
		t.Errorf("English %q, want %q", got, want)
	}
	// Any Chinese tag reads Traditional Chinese; anything else English.
	for tag, want := range map[string]string{
		"zh-HK": mobile.Message("zh-Hant"), "ZH-hant": mobile.Message("zh-Hant"), "zh": mobile.Message("zh-Hant"),
		"fr": mobile.Message("en"), "": mobile.Message("en"), "en-GB": mobile.Message("en"),
	} {
		if got := mobile.Message(tag); got != want {
			t.Errorf("Message(%q) = %q, want %q", tag, got, want)
		}
	}
}

func TestLabels(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range attr.Names() {
		en, zh := attr.Label(name, "en"), attr.Label(name, "zh-Hant")
		if en == "" || zh == "" || en == zh || !hasHan(zh) || en == string(name) {
			t.Errorf("%s: labels %q / %q", name, en, zh)
		}
		if seen[en] || seen[zh] {
			t.Errorf("%s: label %q / %q used twice", name, en, zh)
		}
		seen[en], seen[zh] = true, true
		for _, f := range attr.Fields(name) {
			fen, fzh := attr.FieldLabel(name, f, "en"), attr.FieldLabel(name, f, "zh-Hant")
			if fen == "" || fen == f || fzh == fen || !hasHan(fzh) {
				t.Errorf("%s.%s: labels %q / %q", name, f, fen, fzh)
			}
		}
		if attr.FieldLabel(name, "", "en") != en {
			t.Errorf("%s: FieldLabel of the whole value is not the Label", name)
		}
	}
	if got := attr.Label(attr.ResidentialAddress, "zh-Hant"); got != "住址" {
		t.Errorf("residential address in Chinese is %q, want 住址", got)
	}
	if got := attr.Label(attr.ResidentialAddress, "en"); got != "Residential address" {
		t.Errorf("residential address in English is %q", got)
	}
}

func TestParseAndNames(t *testing.T) {
	names := attr.Names()
	if len(names) != 10 || names[0] != attr.ResidentialAddress || names[9] != attr.EmergencyContact {
		t.Fatalf("Names() = %v", names)
	}
	names[0] = "changed"
	if attr.Names()[0] != attr.ResidentialAddress {
		t.Error("Names() returns the package's own slice")
	}
	for _, n := range attr.Names() {
		if got, ok := attr.Parse(string(n)); !ok || got != n {
			t.Errorf("Parse(%q) = %q, %v", n, got, ok)
		}
	}
	for _, s := range []string{"", "Email", "address", "phone_number", "email "} {
		if _, ok := attr.Parse(s); ok {
			t.Errorf("Parse(%q) accepted it", s)
		}
	}
}
