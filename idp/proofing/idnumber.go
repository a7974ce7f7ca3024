package proofing

import (
	"errors"
	"strings"
)

// Errors for a malformed Hong Kong Identity Card number. Their messages are
// written for the person who typed the number; they never repeat the number,
// so they are also safe to log.
var (
	// ErrIDNumberFormat: the input is not one or two letters, six digits
	// and a check digit.
	ErrIDNumberFormat = errors.New("the Hong Kong Identity Card number should be one or two letters, six digits and a check digit (0–9 or A), for example A123456(3)")
	// ErrIDNumberCheckDigit: the input has the right shape but its check
	// digit does not match the rest of the number, which usually means a
	// mistyped character.
	ErrIDNumberCheckDigit = errors.New("this Hong Kong Identity Card number is not valid: please check each character, including the one in brackets")
)

// maxIDNumberInput bounds the input NormalizeIDNumber looks at: the longest
// sensible form is about 20 bytes ("AB 123456 (3)" with extra spaces and
// full-width brackets); anything much longer is refused before any work.
const maxIDNumberInput = 64

// NormalizeIDNumber checks a Hong Kong Identity Card number and returns its
// canonical form: upper-case prefix letter(s), six digits and the check
// digit, without brackets or spaces ("A1234563", "AB9876543").
//
// It accepts what people type and what the card prints: one or two letters,
// six digits, and a check digit 0–9 or A, the check digit optionally in
// brackets (ASCII "()" or the full-width "（）" a Chinese input method
// produces), in any letter case, with spaces anywhere: "A123456(3)",
// "a123456(3)", " A 123456 3 ", "AB987654(3)".
//
// Errors: ErrIDNumberFormat when the shape is wrong, ErrIDNumberCheckDigit
// when the check digit does not match (see checkDigit for the algorithm).
func NormalizeIDNumber(s string) (string, error) {
	if len(s) > maxIDNumberInput {
		return "", ErrIDNumberFormat
	}
	// Upper-case ASCII letters only: strings.ToUpper would also map
	// non-ASCII letters such as the dotless ı onto I, accepting input that
	// is not an ID number.
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == ' ', r == '\t', r == '\u00a0', r == '\u3000': // ASCII, no-break and ideographic spaces
		case r == '\uff08':
			b.WriteByte('(')
		case r == '\uff09':
			b.WriteByte(')')
		case r >= 'a' && r <= 'z':
			b.WriteByte(byte(r - 'a' + 'A'))
		case r < 0x80:
			b.WriteByte(byte(r))
		default:
			return "", ErrIDNumberFormat
		}
	}
	t := b.String()

	// An optional pair of brackets around the last character only.
	if strings.HasSuffix(t, ")") {
		if len(t) < 3 || t[len(t)-3] != '(' {
			return "", ErrIDNumberFormat
		}
		t = t[:len(t)-3] + t[len(t)-2:len(t)-1]
	}

	var prefix int // number of letters before the digits
	switch len(t) {
	case 8:
		prefix = 1
	case 9:
		prefix = 2
	default:
		return "", ErrIDNumberFormat
	}
	for i := 0; i < prefix; i++ {
		if !isUpper(t[i]) {
			return "", ErrIDNumberFormat
		}
	}
	for i := prefix; i < prefix+6; i++ {
		if !isDigit(t[i]) {
			return "", ErrIDNumberFormat
		}
	}
	last := t[len(t)-1]
	if !isDigit(last) && last != 'A' {
		return "", ErrIDNumberFormat
	}
	if checkDigit(t[:len(t)-1]) != last {
		return "", ErrIDNumberCheckDigit
	}
	return t, nil
}

// FormatIDNumber returns an ID number as the card prints it, with the check
// digit in brackets: "A1234563" → "A123456(3)". Any input NormalizeIDNumber
// accepts is formatted the same way; other input is returned unchanged.
func FormatIDNumber(canonical string) string {
	c, err := NormalizeIDNumber(canonical)
	if err != nil {
		return canonical
	}
	n := len(c)
	return c[:n-1] + "(" + c[n-1:] + ")"
}

// checkDigit returns the check digit ('0'–'9' or 'A') of body, the prefix
// letter(s) and six digits of a canonical ID number, which the caller has
// checked for shape.
//
// The algorithm is not published by the Immigration Department; it is the
// one in wide circulation and checked here against the examples that
// circulate with it (see the tests): A123456(3) and AB123456(9) in
// http://hong.ddns.net/index.php/2019/05/20/hong-kong-id, E364912(5) and
// AB987654(3) in
// http://computerterminal.blogspot.com/2013/02/hong-kong-id-formula-hkid-number-check.html,
// D288754(2) in a school check-digit lesson
// (https://slidetodoc.com/more-to-learn-check-digit-it-is-used/):
//
//   - letters count A=10 … Z=35 and digits as themselves; a single-letter
//     prefix is preceded by a space, which counts 36;
//   - the 8 characters are weighted 9, 8, 7, 6, 5, 4, 3, 2 and summed;
//   - check = 11 − (sum mod 11), written 0 when it is 11 and A when it is 10.
//
// Equivalently, the weighted sum with the check digit at weight 1 (A=10) is
// a multiple of 11. Some descriptions count the space as 58 or the letters
// as A=1 … Z=26; both agree with this one modulo 11.
func checkDigit(body string) byte {
	sum := 0
	w := 9
	if len(body) == 7 { // single letter: a leading space worth 36
		sum += 36 * w
		w--
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		v := int(c - '0')
		if isUpper(c) {
			v = int(c-'A') + 10
		}
		sum += v * w
		w--
	}
	switch d := 11 - sum%11; d {
	case 11:
		return '0'
	case 10:
		return 'A'
	default:
		return byte('0' + d)
	}
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
