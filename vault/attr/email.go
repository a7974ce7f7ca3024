package attr

import (
	"strings"
)

// Email limits: RFC 5321 §4.5.3.1.1 (local part, 64 octets), §4.5.3.1.2
// (domain, 255 octets) and the 256-octet path of §4.5.3.1.3, which less
// its angle brackets leaves 254 for the address (RFC 3696 erratum 1690).
const (
	maxEmail      = 254
	maxEmailLocal = 64
	maxLabel      = 63 // RFC 1035 §2.3.4
)

// atext is the set of RFC 5322 §3.2.3 atext characters besides letters and
// digits.
const atextSpecials = "!#$%&'*+-/=?^_`{|}~"

func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte(atextSpecials, c) >= 0
}

// normaliseEmail checks an address and returns it with the domain in lower
// case (domains are case-insensitive, RFC 5321 §2.4; the local part is
// kept as typed, since only the receiving host may interpret its case), or
// the code of what is wrong.
//
// It accepts the practical subset of the RFC 5322 §3.4.1 addr-spec that
// mail is actually sent to: a dot-atom local part (no quoted strings, no
// comments), and a domain name of at least two labels of ASCII letters,
// digits and hyphens, the last beginning with a letter (no address
// literals; an internationalised domain in its xn-- A-label form).
func normaliseEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", CodeEmailFormat
	}
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if len(local) > maxEmailLocal {
		return "", CodeEmailLocalTooLong
	}
	if !dotAtom(local) || !domainName(domain) {
		return "", CodeEmailFormat
	}
	addr := local + "@" + domain
	if len(addr) > maxEmail {
		return "", CodeTooLong
	}
	return addr, ""
}

// dotAtom reports whether s is an RFC 5322 §3.2.3 dot-atom-text: atext
// runs separated by single dots.
func dotAtom(s string) bool {
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			if !isAtext(part[i]) {
				return false
			}
		}
	}
	return true
}

// domainName reports whether s (lower case) is a host name of at least
// two labels (RFC 1035 §2.3.1, RFC 1123 §2.1: letters, digits, hyphens, no
// hyphen at either end of a label), whose last label begins with a letter
// so that it cannot be an IP address.
func domainName(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return tld[0] >= 'a' && tld[0] <= 'z'
}

// previewEmail masks the local part for the consent page: its first
// character, three dots, and its last character when it has more than
// two; the domain is shown whole. "chan.taiman@example.com" becomes
// "c•••n@example.com". The dots do not tell the length.
func previewEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 1 {
		return "•••"
	}
	local := addr[:at]
	out := local[:1] + "•••"
	if len(local) > 2 {
		out += local[len(local)-1:]
	}
	return out + addr[at:]
}
