package attr_test

import (
	"encoding/json"
	"errors"
	"testing"

	"eidp/vault/attr"
)

// FuzzValidate: values come from residents' forms and from departments,
// so Validate takes untrusted input. It never panics, refuses only with
// *Errors (or ErrUnknownName, which a catalogue name never gives), and
// whatever it accepts is canonical: it validates again to itself, and
// Display, Preview and ClaimValue read it.
func FuzzValidate(f *testing.F) {
	seeds := []string{
		`"9123 4567"`, `"+852 9123-4567"`, `"+852 2123 4567"`, `"+447911123456"`, `"＋８５２ ９１２３ ４５６７"`,
		`"Chan.TaiMan@Example.COM"`, `"a@b.c"`, `"zh-hant"`, `"bachelor"`, `"Registered nurse"`,
		addressEN, addressZH, addressGF, addressFT, contact,
		`{"building":"IFC","district":"central-western","region":"kowloon"}`, `{}`, `null`, `"\u202e"`,
		`{"free_text":"a\r\nb\u2028c"}`, `{"floor":"G","building":"x","district":"ISLANDS"}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	names := attr.Names()
	f.Fuzz(func(t *testing.T, which uint8, raw string) {
		name := names[int(which)%len(names)]
		got, err := attr.Validate(name, json.RawMessage(raw))
		if err != nil {
			var errs *attr.Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 || !errors.Is(err, attr.ErrInvalid) {
				t.Fatalf("Validate(%s, %q): error %v is not a non-empty *Errors", name, raw, err)
			}
			for _, fe := range errs.List {
				if fe.Message("en") == "" || fe.Message("zh-Hant") == "" {
					t.Fatalf("empty message for %+v", fe)
				}
			}
			return
		}
		again, err := attr.Validate(name, got)
		if err != nil {
			t.Fatalf("Validate(%s, %q) = %s, which is refused: %v", name, raw, got, err)
		}
		if string(again) != string(got) {
			t.Fatalf("Validate(%s, %q) = %s, then %s: not idempotent", name, raw, got, again)
		}
		for _, l := range []string{"en", "zh-Hant"} {
			if attr.Display(name, got, l) == "" {
				t.Fatalf("Display(%s, %s, %s) is empty", name, got, l)
			}
			if attr.Preview(name, got, l) == "" {
				t.Fatalf("Preview(%s, %s, %s) is empty", name, got, l)
			}
			if _, err := attr.ClaimValue(name, got, l); err != nil {
				t.Fatalf("ClaimValue(%s, %s): %v", name, got, err)
			}
		}
	})
}
