package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/subject"
	"eidp/vault/attr"
)

// ErrInvalidMetadata: a client's metadata breaks a rule; the error is a
// *ValidationError naming the field.
var ErrInvalidMetadata = errors.New("client: invalid client metadata")

// RFC 7591 §3.2.2 error codes, for a registration or admin API response.
const (
	CodeInvalidRedirectURI    = "invalid_redirect_uri"
	CodeInvalidClientMetadata = "invalid_client_metadata"
)

// ValidationError says which metadata field is wrong and what to change. It
// wraps ErrInvalidMetadata. Msg is safe to show to whoever registers the
// client: it describes their input only.
type ValidationError struct {
	Field string // the metadata name, with an index for lists: "redirect_uris[1]"
	Msg   string
}

func (e *ValidationError) Error() string {
	return ErrInvalidMetadata.Error() + ": " + e.Field + ": " + e.Msg
}

func (e *ValidationError) Unwrap() error { return ErrInvalidMetadata }

// Code is the RFC 7591 §3.2.2 error code: invalid_redirect_uri for a
// redirect_uris problem, invalid_client_metadata for any other field.
func (e *ValidationError) Code() string {
	if e.Field == "redirect_uris" || strings.HasPrefix(e.Field, "redirect_uris[") {
		return CodeInvalidRedirectURI
	}
	return CodeInvalidClientMetadata
}

// Description is the error_description of RFC 7591 §3.2.2.
func (e *ValidationError) Description() string { return e.Field + ": " + e.Msg }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Options are the deployment's rules for client metadata.
type Options struct {
	// Production requires https for every redirect URI, post-logout
	// redirect URI, jwks_uri, backchannel_logout_uri, client_uri, logo_uri,
	// policy_uri and tos_uri. In development,
	// http is also allowed for loopback hosts (localhost, 127.0.0.1, [::1]).
	Production bool
}

// Algorithms.
var (
	// idTokenAlgs may sign ID tokens and userinfo responses: eidp's key
	// backend holds EC P-256 and RSA keys.
	idTokenAlgs = []string{"ES256", "RS256", "PS256"}
	// assertionAlgs may sign a client's private_key_jwt assertion (RFC 7523
	// §3): asymmetric JWS algorithms of RFC 7518 §3.1 and RFC 8037. "none"
	// and the HMAC ones are not among them.
	assertionAlgs = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}
	authMethods   = []string{AuthPrivateKeyJWT, AuthClientSecretBasic, AuthClientSecretPost, AuthNone}
	grantTypes    = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
	// eidpScopes are the scopes in eidp's own namespace (with the vault's,
	// vault/attr); another "eidp:" scope is a typo.
	eidpScopes = append([]string{ScopeIDCard, ScopeAdmin}, slices.DeleteFunc(attr.Scopes(), func(s string) bool {
		return !strings.HasPrefix(s, "eidp:")
	})...)
)

// Validate checks c, with defaults already applied (WithDefaults), against
// the rules below, and returns the first broken rule as a *ValidationError.
// It does not fetch anything: the Store's caller verifies that a
// sector_identifier_uri lists the redirect URIs (subject.ValidateSectorIdentifierURI)
// and fetches jwks_uri when it authenticates the client.
func (c Client) Validate(o Options) error {
	for _, check := range []func(Options) *ValidationError{
		c.checkClientID,
		c.checkName,
		c.checkConsentPage,
		c.checkGrants,
		c.checkAuthMethod,
		c.checkKeys,
		c.checkRedirects,
		c.checkSigningAlgs,
		c.checkSubject,
		c.checkLogout,
		c.checkScope,
		c.checkContacts,
	} {
		if err := check(o); err != nil {
			return err
		}
	}
	return nil
}

// ValidClientID reports whether id may be requested as a client_id: 3 to 64
// characters, letters, digits and "-", ".", "_", "~" (RFC 3986 unreserved),
// so that it needs no escaping in a URL or in HTTP Basic authentication
// (RFC 6749 §2.3.1).
func ValidClientID(id string) bool {
	if len(id) < 3 || len(id) > maxClientIDLen {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '~':
		default:
			return false
		}
	}
	return true
}

func (c Client) checkClientID(Options) *ValidationError {
	if c.ClientID != "" && !ValidClientID(c.ClientID) {
		return invalid("client_id", "%q is not a valid client ID: use 3 to %d letters, digits, '-', '.', '_' or '~', or leave it out to get a random one", c.ClientID, maxClientIDLen)
	}
	return nil
}

func (c Client) checkName(Options) *ValidationError {
	if strings.TrimSpace(c.ClientName) == "" {
		return invalid("client_name", "is required: residents see it on the consent page; give the service's name")
	}
	if err := checkText("client_name", c.ClientName, MaxClientNameLen); err != nil {
		return err
	}
	if c.ClientNameZH != "" {
		return checkText("client_name#"+LangZHHant, c.ClientNameZH, MaxClientNameLen)
	}
	return nil
}

// checkConsentPage checks what the consent page shows besides the name: the
// purpose, in plain text, and the links and logo of RFC 7591 §2 — absolute
// URLs without fragment, https except on loopback in development (as
// jwks_uri), since residents' browsers load or follow them.
func (c Client) checkConsentPage(o Options) *ValidationError {
	if c.Purpose != "" {
		if err := checkText("eidp_purpose", c.Purpose, MaxPurposeLen); err != nil {
			return err
		}
	}
	if c.PurposeZH != "" {
		if c.Purpose == "" {
			return invalid("eidp_purpose#"+LangZHHant, "needs an untagged eidp_purpose as well: residents reading English see that one; add it")
		}
		if err := checkText("eidp_purpose#"+LangZHHant, c.PurposeZH, MaxPurposeLen); err != nil {
			return err
		}
	}
	for _, u := range []struct{ field, value string }{
		{"client_uri", c.ClientURI},
		{"logo_uri", c.LogoURI},
		{"policy_uri", c.PolicyURI},
		{"tos_uri", c.TOSURI},
	} {
		if u.value == "" {
			continue
		}
		if err := checkURI(u.field, u.value, endpointURI, o, false); err != nil {
			return err
		}
	}
	return nil
}

// checkText checks a human-readable value shown to residents (a name, a
// purpose): present, valid UTF-8, at most max characters, plain text on one
// line. Bidirectional-override characters are refused too: they could make
// the text read differently from what is stored (the "Trojan Source" trick,
// CVE-2021-42574).
func checkText(field, value string, max int) *ValidationError {
	switch n := utf8.RuneCountInString(value); {
	case strings.TrimSpace(value) == "":
		return invalid(field, "is blank; write the text residents should read, or leave the field out")
	case !utf8.ValidString(value):
		return invalid(field, "is not valid UTF-8")
	case n > max:
		return invalid(field, "has %d characters; shorten it to at most %d", n, max)
	case strings.ContainsFunc(value, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }):
		return invalid(field, "contains control characters (a line break or tab?); write it on one line")
	case strings.ContainsFunc(value, isBidiControl):
		return invalid(field, "contains invisible bidirectional-override characters (U+202A–U+202E, U+2066–U+2069); remove them")
	}
	return nil
}

func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

func (c Client) checkGrants(Options) *ValidationError {
	for i, g := range c.GrantTypes {
		field := fmt.Sprintf("grant_types[%d]", i)
		if !slices.Contains(grantTypes, g) {
			return invalid(field, "%q is not supported; use %s", g, strings.Join(grantTypes, ", "))
		}
		if slices.Index(c.GrantTypes, g) != i {
			return invalid(field, "%q is listed twice", g)
		}
	}
	code := c.HasGrant(GrantAuthorizationCode)
	if c.HasGrant(GrantRefreshToken) && !code {
		return invalid("grant_types", "refresh_token needs authorization_code: refresh tokens are issued only from authorization codes here")
	}
	// RFC 7591 §2.1: grant_types and response_types must agree.
	for i, rt := range c.ResponseTypes {
		field := fmt.Sprintf("response_types[%d]", i)
		if rt != ResponseTypeCode {
			return invalid(field, "%q is not supported; eidp runs the authorization code flow only: use \"code\"", rt)
		}
		if i > 0 {
			return invalid(field, "\"code\" is listed twice")
		}
	}
	switch {
	case code && len(c.ResponseTypes) == 0:
		return invalid("response_types", "must be [\"code\"] for a client with the authorization_code grant (RFC 7591 §2.1)")
	case !code && len(c.ResponseTypes) > 0:
		return invalid("response_types", "\"code\" needs the authorization_code grant (RFC 7591 §2.1); add the grant or remove response_types")
	}
	return nil
}

func (c Client) checkAuthMethod(Options) *ValidationError {
	m := c.TokenEndpointAuthMethod
	if !slices.Contains(authMethods, m) {
		return invalid("token_endpoint_auth_method", "%q is not supported; use %s", m, strings.Join(authMethods, ", "))
	}
	if m == AuthNone {
		// A public client has no credentials to prove who is asking.
		if c.HasGrant(GrantClientCredentials) {
			return invalid("grant_types", "client_credentials needs client authentication (RFC 6749 §4.4); remove it, or use private_key_jwt or a client secret instead of token_endpoint_auth_method none")
		}
		if c.Admin {
			return invalid("admin", "an admin client must authenticate; use private_key_jwt or a client secret instead of token_endpoint_auth_method none")
		}
	}
	if c.ClientSecretExpiresAt != 0 {
		return invalid("client_secret_expires_at", "must be 0: eidp's client secrets do not expire; rotate them with `eidp clients rotate-secret`")
	}
	return nil
}

func (c Client) checkKeys(o Options) *ValidationError {
	if alg := c.TokenEndpointAuthSigningAlg; alg != "" {
		if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
			return invalid("token_endpoint_auth_signing_alg", "applies to private_key_jwt only; remove it or set token_endpoint_auth_method to private_key_jwt")
		}
		if !slices.Contains(assertionAlgs, alg) {
			return invalid("token_endpoint_auth_signing_alg", "%q is not supported; use one of %s", alg, strings.Join(assertionAlgs, ", "))
		}
	}
	hasJWKS, hasURI := len(c.JWKS) > 0, c.JWKSURI != ""
	switch {
	case hasJWKS && hasURI:
		// OpenID Connect Registration §2: MUST NOT both be present.
		return invalid("jwks", "jwks and jwks_uri are mutually exclusive (OpenID Connect Registration §2); keep one")
	case c.TokenEndpointAuthMethod == AuthPrivateKeyJWT && !hasJWKS && !hasURI:
		return invalid("jwks_uri", "private_key_jwt needs the client's public keys: give jwks_uri (preferred, keys can rotate) or jwks")
	case hasJWKS:
		return checkJWKS(c.JWKS)
	case hasURI:
		return checkURI("jwks_uri", c.JWKSURI, endpointURI, o, false)
	}
	return nil
}

// privateJWKMembers are the JWK members of private or symmetric keys
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func checkJWKS(raw json.RawMessage) *ValidationError {
	if len(raw) > maxJWKSSize {
		return invalid("jwks", "is %d bytes; at most %d are accepted (use jwks_uri for large sets)", len(raw), maxJWKSSize)
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return invalid("jwks", "is not a JWK set {\"keys\": [...]} (RFC 7517 §5): %v", err)
	}
	if len(set.Keys) == 0 {
		return invalid("jwks", "has no keys; give a JWK set {\"keys\": [...]} with the client's public keys (RFC 7517 §5)")
	}
	if len(set.Keys) > maxJWKSKeys {
		return invalid("jwks", "has %d keys; at most %d are accepted", len(set.Keys), maxJWKSKeys)
	}
	for i, members := range set.Keys {
		field := fmt.Sprintf("jwks.keys[%d]", i)
		for _, m := range privateJWKMembers {
			if _, ok := members[m]; ok {
				return invalid(field, "contains private or secret key material (%q); register the public key only, and treat this private key as disclosed", m)
			}
		}
		b, _ := json.Marshal(members)
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(b); err != nil {
			return invalid(field, "is not a usable JWK: %v", err)
		}
		if !k.Valid() || !k.IsPublic() {
			return invalid(field, "is not a supported public key; use an EC (P-256, P-384, P-521), RSA or Ed25519 key")
		}
	}
	return nil
}

func (c Client) checkRedirects(o Options) *ValidationError {
	code := c.HasGrant(GrantAuthorizationCode)
	switch {
	case code && len(c.RedirectURIs) == 0:
		return invalid("redirect_uris", "at least one is required for the authorization_code grant; give the exact URI(s) the service receives codes at")
	case !code && len(c.RedirectURIs) > 0:
		return invalid("redirect_uris", "are used only with the authorization_code grant; remove them or add the grant")
	case !code && len(c.PostLogoutRedirectURIs) > 0:
		return invalid("post_logout_redirect_uris", "are used only with the authorization_code grant; remove them or add the grant")
	}
	if err := checkURIList("redirect_uris", c.RedirectURIs, o, c.IsPublic()); err != nil {
		return err
	}
	return checkURIList("post_logout_redirect_uris", c.PostLogoutRedirectURIs, o, c.IsPublic())
}

func checkURIList(field string, uris []string, o Options, public bool) *ValidationError {
	if len(uris) > MaxRedirectURIs {
		return invalid(field, "has %d URIs; at most %d are accepted", len(uris), MaxRedirectURIs)
	}
	for i, u := range uris {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkURI(f, u, redirectURI, o, public); err != nil {
			return err
		}
		if slices.Index(uris, u) != i {
			return invalid(f, "%q is listed twice", u)
		}
	}
	return nil
}

func (c Client) checkSigningAlgs(Options) *ValidationError {
	if !slices.Contains(idTokenAlgs, c.IDTokenSignedResponseAlg) {
		return invalid("id_token_signed_response_alg", "%q is not supported; use %s", c.IDTokenSignedResponseAlg, strings.Join(idTokenAlgs, ", "))
	}
	if a := c.UserinfoSignedResponseAlg; a != "" && !slices.Contains(idTokenAlgs, a) {
		return invalid("userinfo_signed_response_alg", "%q is not supported; use %s, or leave it out for plain JSON userinfo responses", a, strings.Join(idTokenAlgs, ", "))
	}
	return nil
}

func (c Client) checkSubject(o Options) *ValidationError {
	switch c.SubjectType {
	case SubjectPairwise, SubjectPublic:
	default:
		return invalid("subject_type", "%q is not a subject type; use pairwise (the default) or public", c.SubjectType)
	}
	if c.SectorIdentifierURI != "" {
		if c.SubjectType != SubjectPairwise {
			return invalid("sector_identifier_uri", "is used only for pairwise subjects (OpenID Connect Core §8.1); remove it or use subject_type pairwise")
		}
		// OpenID Connect Registration §2: a URL using the https scheme,
		// whatever the mode (it is fetched, and decides subjects).
		if err := checkURI("sector_identifier_uri", c.SectorIdentifierURI, httpsURI, o, false); err != nil {
			return err
		}
		return nil
	}
	if c.SubjectType != SubjectPairwise {
		return nil
	}
	// OpenID Connect Core §8.1: without a sector_identifier_uri the sector
	// is the redirect URIs' host, so they must have exactly one.
	if c.SectorIdentifierURI != "" || len(c.RedirectURIs) == 0 {
		return nil
	}
	if _, err := subject.SectorIdentifier(c.RedirectURIs, ""); err != nil {
		why := strings.TrimPrefix(err.Error(), subject.ErrSectorRequired.Error()+": ")
		return invalid("sector_identifier_uri", "is required: pairwise subjects need one sector (OpenID Connect Core §8.1), but %s; register an https URI whose JSON lists every redirect URI, or use one host", why)
	}
	return nil
}

func (c Client) checkLogout(o Options) *ValidationError {
	code := c.HasGrant(GrantAuthorizationCode)
	if c.RequirePushedAuthorizationRequests && !code {
		return invalid("require_pushed_authorization_requests", "applies to authorization requests (RFC 9126 §6), and the client has no authorization_code grant; remove it or add the grant")
	}
	if c.BackchannelLogoutURI == "" {
		if c.BackchannelLogoutSessionRequired {
			return invalid("backchannel_logout_session_required", "needs a backchannel_logout_uri; add one or remove this")
		}
		return nil
	}
	if !code {
		return invalid("backchannel_logout_uri", "applies to residents' sessions, and the client has no authorization_code grant; remove it or add the grant")
	}
	// Back-Channel Logout §2.2: absolute, no fragment; https except where
	// the OP allows http (here: loopback in development).
	return checkURI("backchannel_logout_uri", c.BackchannelLogoutURI, endpointURI, o, false)
}

func (c Client) checkScope(Options) *ValidationError {
	if c.Scope == "" {
		return nil
	}
	tokens := strings.Split(c.Scope, " ")
	for i, s := range tokens {
		switch {
		case s == "":
			return invalid("scope", "separate scopes with single spaces, without leading or trailing spaces")
		case !validScopeToken(s):
			return invalid("scope", "%q has characters a scope cannot have (RFC 6749 §3.3)", s)
		case slices.Index(tokens, s) != i:
			return invalid("scope", "%q is listed twice", s)
		case strings.HasPrefix(s, "eidp:") && !slices.Contains(eidpScopes, s):
			return invalid("scope", "%q is not an eidp scope; eidp's own scopes are %s", s, strings.Join(eidpScopes, ", "))
		case s == ScopeIDCard && !c.AllowIDCard:
			return invalid("scope", "%s (the resident's identity-card number) needs allow_id_card: set it only for a client with a legal basis to receive the number, or remove the scope", ScopeIDCard)
		case s == ScopeAdmin && !c.Admin:
			return invalid("scope", "%s (the admin API) needs admin: true; set it only for operators' tooling, or remove the scope", ScopeAdmin)
		}
	}
	return nil
}

// validScopeToken: RFC 6749 §3.3, scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return s != ""
}

func (c Client) checkContacts(Options) *ValidationError {
	if len(c.Contacts) > maxContacts {
		return invalid("contacts", "has %d entries; at most %d are accepted", len(c.Contacts), maxContacts)
	}
	for i, s := range c.Contacts {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || len(s) > 254 {
			return invalid(fmt.Sprintf("contacts[%d]", i), "%q is not an e-mail address; write it bare, like it-security@dept.example.gov", s)
		}
	}
	return nil
}

// uriKind is what a URI is for, which decides the schemes it may have.
type uriKind int

const (
	redirectURI uriKind = iota // https; http on loopback in development; private-use schemes for native apps
	endpointURI                // https; http on loopback in development
	httpsURI                   // https only
)

// loopbackHosts may use http in development (RFC 8252 §7.3; "localhost"
// too, although §8.3 prefers IP literals, as developers' tools use it).
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// schemesNeverRedirects are schemes that would run or read something in the
// browser rather than hand a code to an app.
var schemesNeverRedirects = []string{"javascript", "data", "vbscript", "file", "blob", "about", "filesystem", "ftp", "ws", "wss"}

// checkURI checks one URI of kind. It never rewrites it: redirect URIs are
// compared as exact strings later (RFC 6749 §3.1.2.3; RFC 9700 §4.1.3).
func checkURI(field, raw string, kind uriKind, o Options, public bool) *ValidationError {
	switch {
	case raw == "":
		return invalid(field, "is empty")
	case len(raw) > maxURILen:
		return invalid(field, "is %d characters long; at most %d are accepted", len(raw), maxURILen)
	case strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return invalid(field, "%q contains spaces or control characters; register the URI exactly as it is sent, percent-encoded", raw)
	case strings.Contains(raw, "#"):
		return invalid(field, "%q has a fragment; remove the part from \"#\" on (RFC 6749 §3.1.2)", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return invalid(field, "%q is not a URI: %v", raw, err)
	}
	if !u.IsAbs() {
		return invalid(field, "%q is not absolute; write the full URI with its scheme, like https://service.example.gov/callback", raw)
	}
	if u.User != nil {
		return invalid(field, "%q contains a user name or password; remove it", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
		return checkHost(field, raw, u)
	case "http":
		if kind == httpsURI {
			return invalid(field, "%q must use https", raw)
		}
		if o.Production {
			return invalid(field, "%q uses http; production requires https", raw)
		}
		if !slices.Contains(loopbackHosts, strings.ToLower(u.Hostname())) {
			return invalid(field, "%q uses http on a host that is not loopback; use https (http is allowed in development only for localhost, 127.0.0.1 and [::1])", raw)
		}
		return nil
	}
	if kind != redirectURI {
		return invalid(field, "%q must use https", raw)
	}
	if slices.Contains(schemesNeverRedirects, scheme) {
		return invalid(field, "%q: the %s scheme cannot be a redirect URI; use https", raw, scheme)
	}
	// RFC 8252 §7.1: private-use schemes are for native apps, which are
	// public clients (§8.5); a confidential client has a web server.
	if !public {
		return invalid(field, "%q uses the private-use scheme %q, which only native apps may use (RFC 8252 §7.1): set token_endpoint_auth_method to none for a native app, or use https", raw, scheme)
	}
	if !strings.Contains(scheme, ".") {
		return invalid(field, "%q: a private-use scheme must be a reversed domain name the app's publisher controls, like com.example.app:/callback (RFC 8252 §7.1)", raw)
	}
	return nil
}

func checkHost(field, raw string, u *url.URL) *ValidationError {
	host := u.Hostname()
	switch {
	case host == "":
		return invalid(field, "%q has no host", raw)
	case strings.Contains(host, "*"):
		return invalid(field, "%q has a wildcard; wildcards are not supported, register each URI exactly", raw)
	}
	return nil
}
