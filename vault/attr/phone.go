package attr

import (
	"strings"
)

// HKCountryCode is Hong Kong's E.164 country code.
const HKCountryCode = "852"

// phoneSeparators are the characters people put between digits; they are
// dropped. Full-width digits and plus (as Chinese input methods type them)
// are read as their ASCII forms.
var phoneReplacer = strings.NewReplacer(
	" ", "", "\u00a0", "", "\u3000", "", "\t", "",
	"-", "", "\u2010", "", "\u2011", "", "\u2012", "", "\u2013", "", "\u2014", "", "\u2212", "",
	".", "", "(", "", ")", "", "/", "",
	"\uff0b", "+", "\uff08", "", "\uff09", "", "\uff0d", "",
	"\uff10", "0", "\uff11", "1", "\uff12", "2", "\uff13", "3", "\uff14", "4",
	"\uff15", "5", "\uff16", "6", "\uff17", "7", "\uff18", "8", "\uff19", "9",
)

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// normalisePhone reads a phone number as a person types it ("9123 4567",
// "+852 9123-4567", "+44 (20) 7946 0958") and returns its E.164 form
// ("+85291234567"), or the code of what is wrong. mobile applies the rules
// for Hong Kong mobile numbers to +852 numbers; otherwise those for any
// Hong Kong subscriber number. doc.go has the rules and their sources.
func normalisePhone(s string, mobile bool) (string, string) {
	s = phoneReplacer.Replace(strings.TrimSpace(s))
	hkCode := CodePhoneHK
	if mobile {
		hkCode = CodePhoneHKMobile
	}
	var digits string
	switch {
	case strings.HasPrefix(s, "+"):
		digits = s[1:]
	case allDigits(s) && len(s) == 8:
		// A bare 8-digit number is a Hong Kong number: there is no
		// trunk prefix and every subscriber number has 8 digits.
		digits = HKCountryCode + s
	case allDigits(s) && len(s) < 8 && len(s) >= 5:
		// Most likely a Hong Kong number with digits missing.
		return "", hkCode
	default:
		return "", CodePhoneFormat
	}
	// ITU-T E.164: at most 15 digits, country code included; no country
	// code begins with 0.
	if !allDigits(digits) || digits[0] == '0' {
		return "", CodePhoneFormat
	}
	if national, ok := strings.CutPrefix(digits, HKCountryCode); ok {
		if !hkNumberOK(national, mobile) {
			return "", hkCode
		}
		return "+" + digits, ""
	}
	if len(digits) < 8 || len(digits) > 15 {
		return "", CodePhoneFormat
	}
	return "+" + digits, ""
}

// hkNumberOK applies the Hong Kong numbering plan to a national number
// (without +852): 8 digits; for a mobile number the first digit is 4, 5, 6,
// 7, 8 or 9, for any number 2 to 9; and never the levels 800 (toll-free,
// 9-digit numbers) or 900 (premium rate), which are not subscriber
// numbers of 8 digits.
func hkNumberOK(national string, mobile bool) bool {
	if len(national) != 8 || !allDigits(national) {
		return false
	}
	if strings.HasPrefix(national, "800") || strings.HasPrefix(national, "900") {
		return false
	}
	lowest := byte('2')
	if mobile {
		lowest = '4'
	}
	return national[0] >= lowest
}

// splitCountryCode splits an E.164 number ("+85291234567") into its
// country code and national number. Country codes form a prefix code (no
// code begins another; ITU-T E.164 and the ITU's list of assigned country
// codes), so their length follows from the leading digits: 1 and 7
// are one digit; 20, 27, 30–34, 36, 39, 40, 41, 43–49, 51–58, 60–66, 81,
// 82, 84, 86, 90–95 and 98 are two; all others three.
func splitCountryCode(e164 string) (cc, national string) {
	d := strings.TrimPrefix(e164, "+")
	if len(d) < 4 {
		return d, ""
	}
	n := 3
	switch {
	case d[0] == '1' || d[0] == '7':
		n = 1
	case strings.Contains(" 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 ", " "+d[:2]+" "):
		n = 2
	}
	return d[:n], d[n:]
}

// displayPhone returns a phone number for reading: "+852 9123 4567" for
// Hong Kong, "+44 2079460958" elsewhere (the country code apart; national
// grouping varies by country and is left alone).
func displayPhone(e164 string) string {
	cc, national := splitCountryCode(e164)
	if cc == HKCountryCode && len(national) == 8 {
		return "+" + cc + " " + national[:4] + " " + national[4:]
	}
	return "+" + cc + " " + national
}

// previewPhone masks a phone number for the consent page: the country code,
// the first digit of the national number and its last three (two when the
// national number is shorter than 7 digits) stay; the rest are dots:
// "+852 9•••• 567".
func previewPhone(e164 string) string {
	cc, national := splitCountryCode(e164)
	keep := 3
	if len(national) < 7 {
		keep = 2
	}
	if len(national) <= keep+1 {
		return "+" + cc + " " + strings.Repeat("•", len(national))
	}
	return "+" + cc + " " + national[:1] + strings.Repeat("•", len(national)-keep-1) + " " + national[len(national)-keep:]
}
