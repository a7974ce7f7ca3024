package attr

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on text, in characters (Unicode code points) after normalisation.
const (
	MaxRawSize       = 4096 // bytes of raw JSON Validate reads
	maxAddressPart   = 100  // building, estate, street
	maxAddressShort  = 20   // flat, floor, block, street_number
	maxFreeText      = 300
	maxFreeTextLines = 6
	maxOccupation    = 100
	maxContactName   = 100
)

// oneLine normalises a single-line text: every run of white space (line
// breaks and the ideographic space U+3000 included) becomes one space, and
// the ends are trimmed. It is idempotent.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// lines normalises a multi-line text into its non-empty lines, each
// normalised by oneLine. CR LF, CR, U+2028 and U+2029 end a line, as LF
// does.
func lines(s string) []string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n").Replace(s)
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = oneLine(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// cleanText reports whether s holds only characters fit to show a person:
// no C0/C1 control characters and no invisible formatting characters
// (Unicode category Cf: bidirectional overrides, zero-width characters,
// which can make one text look like another on the consent page), and no
// U+FFFD, which stands for bytes that were not UTF-8. Private-use
// characters are allowed: older Hong Kong systems put HKSCS characters
// there, and a resident's address may need one.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == utf8.RuneError || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// checkLine normalises one single-line field, adds what is wrong with it
// to c (unless it is empty: whether that is allowed is the caller's
// business), and returns the normalised text.
func checkLine(c *collector, field, s string, max int) string {
	s = oneLine(s)
	switch {
	case s == "":
	case !cleanText(s):
		c.add(field, CodeInvalidCharacters)
	case utf8.RuneCountInString(s) > max:
		c.add(field, CodeTooLong, "max", strconv.Itoa(max))
	}
	return s
}

// matchChoice returns the canonical value of s among cs: an exact match,
// or one that differs only in letter case ("ZH-HANT" is "zh-Hant").
func matchChoice(cs []choice, s string) (string, bool) {
	for _, c := range cs {
		if c.value == s {
			return c.value, true
		}
	}
	for _, c := range cs {
		if strings.EqualFold(c.value, s) {
			return c.value, true
		}
	}
	return "", false
}
