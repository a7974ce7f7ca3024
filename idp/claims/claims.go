package claims

import (
	"slices"
	"strings"

	"eidp/idp/account"
	"eidp/idp/client"
	"eidp/idp/proofing"
	"eidp/vault/attr"
)

// Claim names eidp releases; doc.go says where each value comes from.
const (
	Name       = "name"
	GivenName  = "given_name"
	FamilyName = "family_name"
	NameZH     = "name#zh-Hant"
	Birthdate  = "birthdate"
	Gender     = "gender"
	Locale     = "locale"
	// IDNumber is the Hong Kong identity card number, only under scope
	// eidp:idcard and only for clients with allow_id_card.
	IDNumber = "eidp_id_number"
)

// ScopeProfile is the standard scope for the profile claims (OIDC Core §5.4).
const ScopeProfile = "profile"

// registerClaims are the claims from the civil register.
var registerClaims = []string{Name, GivenName, FamilyName, NameZH, Birthdate, Gender, Locale, IDNumber}

// releasable lists the claims eidp releases in display order: the order of
// the consent page and of Requested. The register's claims, then the
// vault's (vault/attr: address, phone_number, email, eidp_*), whose values
// the provider reads from the resident's vault.
var releasable = func() []string {
	out := slices.Clone(registerClaims)
	for _, n := range attr.Names() {
		out = append(out, attr.ClaimName(n))
	}
	return out
}()

// protocol lists the claims the provider itself puts in tokens (OIDC Core
// §2, §3.1.3.6; Front-/Back-Channel Logout sid). They describe the
// authentication, not the resident, and need no consent.
var protocol = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp"}

// Supported returns every claim eidp can release, in display order. The
// provider's discovery claims_supported (OpenID Connect Discovery 1.0 §3) is
// this list together with Protocol.
func Supported() []string { return append(slices.Clone(registerClaims), attr.Claims()...) }

// IsVault reports whether a claim's value comes from the vault.
func IsVault(claim string) bool {
	_, ok := attr.ByClaim(claim)
	return ok
}

// Protocol returns the claims the provider adds about the authentication
// itself (sub, iss, aud, exp, iat, auth_time, nonce, acr, amr, sid, azp).
// They are never Items and need no consent.
func Protocol() []string { return slices.Clone(protocol) }

// ScopeClaims returns the claims a scope asks for (OIDC Core §5.4): the
// profile claims for "profile", eidp_id_number for "eidp:idcard", nothing
// for any other scope (openid, offline_access and unknown ones). Whether
// the client may have eidp_id_number is Requested's business.
func ScopeClaims(scope string) []string {
	switch scope {
	case ScopeProfile:
		return []string{Name, GivenName, FamilyName, NameZH, Birthdate, Gender, Locale}
	case client.ScopeIDCard:
		return []string{IDNumber}
	}
	var out []string
	for _, n := range attr.ScopeNames(scope) {
		out = append(out, attr.ClaimName(n))
	}
	return out
}

// canonicalName returns the claim name eidp knows a requested name by: the
// name itself, except that the language tag of name#zh-Hant is matched
// without regard to case (RFC 5646 §2.1.1: tags are case-insensitive).
// Claim names themselves are case-sensitive (OIDC Core §5.1).
func canonicalName(n string) string {
	if base, tag, ok := strings.Cut(n, "#"); ok && base == Name && strings.EqualFold(tag, "zh-Hant") {
		return NameZH
	}
	// email_verified and phone_number_verified come with their claim.
	if a, ok := attr.ByClaim(n); ok {
		return attr.ClaimName(a)
	}
	return n
}

func isReleasable(n string) bool { return slices.Contains(releasable, n) }

// Item is one claim asked for, for the consent page and for release.
type Item struct {
	Name      string
	Essential bool // asked for as Essential (OIDC Core §5.5.1) in either member
	IDToken   bool // asked for in the ID token (claims parameter id_token member)
	UserInfo  bool // asked for from UserInfo (by scope or the userinfo member)
	// Provenance: the client asked where the value comes from
	// (eidp_provenance in the claims parameter).
	Provenance bool
}

// Requested merges the claims the scopes ask for (Voluntary, from UserInfo;
// OIDC Core §5.4) with the claims parameter req (§5.5), and returns the ones
// eidp releases and the client may get, in display order (the order of
// Supported). eidp_id_number is kept only when scopes include eidp:idcard
// and allowIDCard is set, however it was asked for: the claims parameter
// cannot reach around the scope. Protocol claims (sub, acr, auth_time, ...)
// and claims eidp does not release are not Items (§5.5: a claim the OP does
// not understand is ignored).
func Requested(scopes []string, req Request, allowIDCard bool) []Item {
	idCard := allowIDCard && slices.Contains(scopes, client.ScopeIDCard)
	items := make(map[string]*Item)
	item := func(name string) *Item {
		if !isReleasable(name) || (name == IDNumber && !idCard) {
			return nil
		}
		it := items[name]
		if it == nil {
			it = &Item{Name: name}
			items[name] = it
		}
		return it
	}
	for _, scope := range scopes {
		for _, name := range ScopeClaims(scope) {
			if it := item(name); it != nil {
				it.UserInfo = true
			}
		}
	}
	for name, spec := range req.UserInfo {
		if it := item(canonicalName(name)); it != nil {
			it.UserInfo = true
			it.Essential = it.Essential || spec.essential()
			it.Provenance = it.Provenance || (spec != nil && spec.Provenance)
		}
	}
	for name, spec := range req.IDToken {
		if it := item(canonicalName(name)); it != nil {
			it.IDToken = true
			it.Essential = it.Essential || spec.essential()
			it.Provenance = it.Provenance || (spec != nil && spec.Provenance)
		}
	}
	var out []Item
	for _, name := range releasable {
		if it := items[name]; it != nil {
			out = append(out, *it)
		}
	}
	return out
}

// Values returns the value of each named claim for resident r, as doc.go
// describes; locale is the language tag the resident chose ("en" or
// "zh-Hant"), released as the locale claim. Names eidp does not release,
// and claims without a value (no Chinese name, an empty field, a gender
// the register does not define), are left out.
//
// Values releases what it is asked for: the caller passes only names the
// resident consented to, and that the client may get (Requested).
func Values(r account.Resident, locale string, names []string) map[string]any {
	out := make(map[string]any, len(names))
	for _, name := range names {
		name = canonicalName(name)
		var v string
		switch name {
		case Name:
			v = fullName(r.Surname, r.GivenNames)
		case GivenName:
			v = r.GivenNames
		case FamilyName:
			v = r.Surname
		case NameZH:
			v = r.NameZH
		case Birthdate:
			v = r.BirthDate
		case Gender:
			v = genderValue(r.Gender)
		case Locale:
			v = locale
		case IDNumber:
			if r.IDNumber != "" {
				v = proofing.FormatIDNumber(r.IDNumber)
			}
		}
		if v = strings.TrimSpace(v); v != "" {
			out[name] = v
		}
	}
	return out
}

// fullName is the name claim: surname in capitals, then the given names,
// as on the identity card ("CHAN Tai Man").
func fullName(surname, given string) string {
	return strings.TrimSpace(strings.ToUpper(strings.TrimSpace(surname)) + " " + strings.TrimSpace(given))
}

// genderValue maps the register's M/F/X to the gender claim (OIDC Core
// §5.1: "female", "male", or another value when neither applies).
func genderValue(g string) string {
	switch g {
	case "M":
		return "male"
	case "F":
		return "female"
	case "X":
		return "unspecified"
	}
	return ""
}

// SatisfiesACR reports whether a login at ACR value have (an eidp ACR such
// as urn:eidp:acr:high; the plain level name is accepted too) meets a
// request for any of the ACR values in want (acr_values, OIDC Core
// §3.1.2.1, or an Essential acr claim, §5.5.1.1 — either lists acceptable
// values, so one is enough). urn:eidp:acr:high satisfies
// urn:eidp:acr:substantial and urn:eidp:acr:high; urn:eidp:acr:substantial
// only itself. A wanted value that is not one of eidp's ACR values is never
// satisfied, nor is anything by an unknown have. An empty want asks for
// nothing and is satisfied.
func SatisfiesACR(have string, want []string) bool {
	if len(want) == 0 {
		return true
	}
	got, err := proofing.ParseLevel(have)
	if err != nil {
		return false
	}
	for _, w := range want {
		for _, l := range proofing.Levels() {
			if w == l.ACR() && got.AtLeast(l) {
				return true
			}
		}
	}
	return false
}

// EssentialACR returns the ACR values an Essential acr request in req
// demands (OIDC Core §5.5.1.1: id_token.acr or userinfo.acr with
// "essential": true, its "value" and "values"), in request order without
// duplicates, or nil when no essential acr request names a value. Values
// that are not strings cannot be ACR values and are dropped. A Voluntary
// acr request demands nothing: the provider returns the acr it has.
func EssentialACR(req Request) []string {
	var out []string
	add := func(v any) {
		if s, ok := v.(string); ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, m := range []map[string]*Spec{req.IDToken, req.UserInfo} {
		spec := m["acr"]
		if !spec.essential() {
			continue
		}
		add(spec.Value)
		for _, v := range spec.Values {
			add(v)
		}
	}
	return out
}
