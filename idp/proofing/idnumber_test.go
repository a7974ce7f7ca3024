package proofing

import (
	"errors"
	"strings"
	"testing"
)

// Check-digit vectors. The published ones come from descriptions of the
// algorithm (sources on checkDigit); each is worked by hand below with
// A=10 … Z=35, a leading space worth 36, weights 9 … 2, and
// check = 11 − (sum mod 11), 10 → A, 11 → 0.
var checkDigitVectors = []struct {
	name, input, canonical string
}{
	// Published. 36·9 + 10·8 + 1·7 + 2·6 + 3·5 + 4·4 + 5·3 + 6·2
	// = 324 + 80 + 77 = 481 = 43·11 + 8 → 11 − 8 = 3.
	{"the usual example A123456(3) is valid", "A123456(3)", "A1234563"},
	// Published. 10·9 + 11·8 + 77 = 255 = 23·11 + 2 → 9.
	{"the two-letter example AB123456(9) is valid", "AB123456(9)", "AB1234569"},
	// Published. 90 + 88 + 9·7 + 8·6 + 7·5 + 6·4 + 5·3 + 4·2 = 178 + 193
	// = 371 = 33·11 + 8 → 3.
	{"the two-letter example AB987654(3) is valid", "AB987654(3)", "AB9876543"},
	// Published. 324 + 14·8 + 3·7 + 6·6 + 4·5 + 9·4 + 1·3 + 2·2
	// = 324 + 112 + 21 + 36 + 20 + 36 + 3 + 4 = 556 = 50·11 + 6 → 5.
	{"the example E364912(5) is valid", "E364912(5)", "E3649125"},
	// Published. 324 + 13·8 + 2·7 + 8·6 + 8·5 + 7·4 + 5·3 + 4·2
	// = 324 + 104 + 14 + 48 + 40 + 28 + 15 + 8 = 581 = 52·11 + 9 → 2.
	{"the example D288754(2) is valid", "D288754(2)", "D2887542"},
	// Derived: 324 + 16·8 + 77 = 529 = 48·11 + 1 → 10, written A.
	{"a check digit of 10 is written A", "G123456(A)", "G123456A"},
	// Derived: 324 + 80 + 1·3 = 407 = 37·11 + 0 → 11, written 0.
	{"a check digit of 11 is written 0", "A000010(0)", "A0000100"},
	// Derived: X = 33: 33·9 + 10·8 + 1·2 = 297 + 80 + 2 = 379 = 34·11 + 5 → 6.
	{"a two-letter prefix starting with X is weighted from 9", "XA000001(6)", "XA0000016"},
	// Derived (the demo register's cancelled card): K = 20: 324 + 160 +
	// 6·7 + 1·6 + 8·5 + 0·4 + 2·3 + 5·2 = 588 = 53·11 + 5 → 6.
	{"the demo cancelled card K618025(6) is valid", "K618025(6)", "K6180256"},
}

func TestNormalizeIDNumberAcceptsPublishedAndDerivedVectors(t *testing.T) {
	for _, v := range checkDigitVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := NormalizeIDNumber(v.input)
			if err != nil || got != v.canonical {
				t.Fatalf("NormalizeIDNumber(%q) = %q, %v; want %q", v.input, got, err, v.canonical)
			}
			if !weightedSumIsMultipleOf11(got) {
				t.Errorf("%q: weighted sum with the check digit is not a multiple of 11", got)
			}
		})
	}
}

func TestNormalizeIDNumber(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
		err   error
	}{
		{"brackets are optional", "A1234563", "A1234563", nil},
		{"lower case is accepted", "a123456(3)", "A1234563", nil},
		{"a lower-case check digit a is accepted", "g123456(a)", "G123456A", nil},
		{"a lower-case two-letter prefix is accepted", "ab987654(3)", "AB9876543", nil},
		{"spaces anywhere are ignored", " A 123456 3 ", "A1234563", nil},
		{"a space before the bracket is ignored", "AB 987654 (3)", "AB9876543", nil},
		{"tabs and no-break spaces are ignored", "\tA123456\u00a0(3)", "A1234563", nil},
		{"full-width brackets from a Chinese input method are accepted", "A123456（3）", "A1234563", nil},
		{"an ideographic space is ignored", "A123456\u3000(3)", "A1234563", nil},

		{"a wrong check digit is refused", "A123456(4)", "", ErrIDNumberCheckDigit},
		{"a digit where A belongs is refused", "G123456(0)", "", ErrIDNumberCheckDigit},
		{"A where a digit belongs is refused", "AB987654(A)", "", ErrIDNumberCheckDigit},
		{"one mistyped digit is caught", "A123465(3)", "", ErrIDNumberCheckDigit},

		{"an empty string is malformed", "", "", ErrIDNumberFormat},
		{"only spaces are malformed", "   ", "", ErrIDNumberFormat},
		{"five digits are malformed", "A12345(3)", "", ErrIDNumberFormat},
		{"seven digits are malformed", "A1234567(3)", "", ErrIDNumberFormat},
		{"three letters are malformed", "ABC123456(7)", "", ErrIDNumberFormat},
		{"no letter is malformed", "1234567(8)", "", ErrIDNumberFormat},
		{"a check digit B is malformed", "A123456(B)", "", ErrIDNumberFormat},
		{"a letter among the digits is malformed", "A12E456(3)", "", ErrIDNumberFormat},
		{"an unclosed bracket is malformed", "A123456(3", "", ErrIDNumberFormat},
		{"reversed brackets are malformed", "A123456)3(", "", ErrIDNumberFormat},
		{"empty brackets are malformed", "A123456()3", "", ErrIDNumberFormat},
		{"double brackets are malformed", "A123456((3))", "", ErrIDNumberFormat},
		{"two characters in brackets are malformed", "A12345(63)", "", ErrIDNumberFormat},
		{"brackets around the prefix are malformed", "(A)1234563", "", ErrIDNumberFormat},
		{"a full-width letter is malformed", "Ａ123456(3)", "", ErrIDNumberFormat},
		{"a dotless i is not taken for I", "ı123456(3)", "", ErrIDNumberFormat},
		{"Arabic-Indic digits are malformed", "A١٢٣٤٥٦(3)", "", ErrIDNumberFormat},
		{"a hyphen is malformed", "A-123456-3", "", ErrIDNumberFormat},
		{"very long input is refused without being read", strings.Repeat(" ", 1000) + "A1234563", "", ErrIDNumberFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeIDNumber(tt.input)
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("NormalizeIDNumber(%q) = %q, %v; want %q, %v", tt.input, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestIDNumberErrorsAreDistinctAndDoNotRepeatTheInput(t *testing.T) {
	if errors.Is(ErrIDNumberFormat, ErrIDNumberCheckDigit) || ErrIDNumberFormat.Error() == ErrIDNumberCheckDigit.Error() {
		t.Fatal("format and check-digit errors must be told apart")
	}
	for _, input := range []string{"A123456(4)", "Z99"} {
		_, err := NormalizeIDNumber(input)
		if err == nil || strings.Contains(err.Error(), strings.TrimSuffix(input, "(4)")) {
			t.Errorf("NormalizeIDNumber(%q) error %q repeats the input", input, err)
		}
	}
}

func TestFormatIDNumber(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"a single-letter number gets its check digit in brackets", "A1234563", "A123456(3)"},
		{"a two-letter number gets its check digit in brackets", "AB9876543", "AB987654(3)"},
		{"a check digit A stays upper case", "G123456A", "G123456(A)"},
		{"a number typed loosely is formatted too", " g123456 (a)", "G123456(A)"},
		{"something that is not an ID number is returned unchanged", "hello", "hello"},
		{"an empty string stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatIDNumber(tt.input); got != tt.want {
				t.Fatalf("FormatIDNumber(%q) = %q, want %q", tt.input, got, tt.want)
			}
		})
	}
}

func FuzzNormalizeIDNumber(f *testing.F) {
	for _, v := range checkDigitVectors {
		f.Add(v.input)
		f.Add(strings.ToLower(v.input))
	}
	for _, s := range []string{"", " A 123456 3 ", "A123456（3）", "A123456(4)", "A123456((3))", "ABC123456(7)", "ı123456(3)", "A123456(", "()"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeIDNumber(s)
		if err != nil {
			if got != "" {
				t.Fatalf("NormalizeIDNumber(%q) = %q with error %v", s, got, err)
			}
			if !errors.Is(err, ErrIDNumberFormat) && !errors.Is(err, ErrIDNumberCheckDigit) {
				t.Fatalf("NormalizeIDNumber(%q): unexpected error %v", s, err)
			}
			return
		}
		again, err := NormalizeIDNumber(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeIDNumber(%q) = %q, which normalizes to %q, %v", s, got, again, err)
		}
		if !weightedSumIsMultipleOf11(got) {
			t.Fatalf("NormalizeIDNumber(%q) = %q, whose check digit does not verify", s, got)
		}
		if back, err := NormalizeIDNumber(FormatIDNumber(got)); err != nil || back != got {
			t.Fatalf("FormatIDNumber(%q) = %q does not normalize back: %q, %v", got, FormatIDNumber(got), back, err)
		}
	})
}

// weightedSumIsMultipleOf11 verifies a canonical ID number the other way
// round from checkDigit, as https://mrszeto.net/home/javascript/idcard.htm
// does: every character including the check digit weighted 9 … 1, a
// leading space worth 58 (which is 36 modulo 11) for a single-letter
// prefix, A=10 … Z=35 and a check digit A worth 10; a valid number's sum
// is a multiple of 11.
func weightedSumIsMultipleOf11(canonical string) bool {
	if len(canonical) != 8 && len(canonical) != 9 {
		return false
	}
	s := canonical
	sum := 0
	if len(s) == 8 {
		sum = 58 * 9
		s = "?" + s // keep positions aligned with the weights
	}
	for i := 0; i < 9; i++ {
		c := s[i]
		var v int
		switch {
		case c == '?':
			continue
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		default:
			return false
		}
		sum += v * (9 - i)
	}
	return sum%11 == 0
}
