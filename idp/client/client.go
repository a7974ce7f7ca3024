package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"eidp/idp/subject"
)

// Grant types a client may register (RFC 7591 §2 grant_types).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// ResponseTypeCode is the only response type: eidp runs the authorization
// code flow alone (no implicit or hybrid flows).
const ResponseTypeCode = "code"

// Client authentication methods at the token endpoint (RFC 7591 §2
// token_endpoint_auth_method; OpenID Connect Core §9).
const (
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthNone              = "none" // a public client (RFC 6749 §2.1), PKCE only
)

// Subject identifier types (OpenID Connect Core §8).
const (
	SubjectPairwise = "pairwise"
	SubjectPublic   = "public"
)

// ScopeIDCard is eidp's scope for the resident's identity-card number. A
// client may list it in its scope only when AllowIDCard is set: the number
// identifies a resident across every service, which pairwise subjects exist
// to prevent, so only clients with a legal basis for it get it.
const ScopeIDCard = "eidp:idcard"

// ScopeAdmin is the scope of access tokens for the admin API (idp/admin),
// issued by the client-credentials grant. A client may list it in its scope
// only when Admin is set.
const ScopeAdmin = "eidp:admin"

// DefaultIDTokenAlg is the default id_token_signed_response_alg. OpenID
// Connect Registration §2 defaults to RS256; eidp's token-signing keys are
// EC P-256 by default, so ES256 is the default here, and RS256 or PS256 are
// available per client.
const DefaultIDTokenAlg = "ES256"

// Limits on metadata sizes.
const (
	MaxRedirectURIs  = 20
	MaxClientNameLen = 100      // characters
	MaxPurposeLen    = 300      // characters
	MaxMetadataSize  = 64 << 10 // bytes of a metadata document
	maxURILen        = 2000
	maxContacts      = 10
	maxJWKSSize      = 32 << 10
	maxJWKSKeys      = 16
	maxClientIDLen   = 64
)

// Client is a registered OAuth 2.0 / OpenID Connect client. JSON names are
// those of RFC 7591 §2, OpenID Connect Dynamic Client Registration §2,
// RFC 9126 §6, Back-Channel Logout §2.2 and RP-Initiated Logout §3.1; the
// eidp fields are eidp_purpose (and its #zh-Hant variant), allow_id_card,
// admin, created_at and updated_at. The secret hash is never part of the
// JSON form.
type Client struct {
	ClientID                           string          `json:"client_id,omitempty"`
	ClientName                         string          `json:"client_name,omitempty"`
	ClientNameZH                       string          `json:"client_name#zh-Hant,omitempty"` // RFC 7591 §2.2 language-tagged client_name
	ClientURI                          string          `json:"client_uri,omitempty"`
	LogoURI                            string          `json:"logo_uri,omitempty"`
	PolicyURI                          string          `json:"policy_uri,omitempty"`
	TOSURI                             string          `json:"tos_uri,omitempty"`
	RedirectURIs                       []string        `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs             []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes                         []string        `json:"grant_types,omitempty"`
	ResponseTypes                      []string        `json:"response_types,omitempty"`
	TokenEndpointAuthMethod            string          `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg        string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                               json.RawMessage `json:"jwks,omitempty"` // a JWK set (RFC 7517 §5), public keys only
	JWKSURI                            string          `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg           string          `json:"id_token_signed_response_alg,omitempty"`
	UserinfoSignedResponseAlg          string          `json:"userinfo_signed_response_alg,omitempty"` // empty: plain JSON userinfo
	SubjectType                        string          `json:"subject_type,omitempty"`
	SectorIdentifierURI                string          `json:"sector_identifier_uri,omitempty"`
	RequirePushedAuthorizationRequests bool            `json:"require_pushed_authorization_requests,omitempty"`
	BackchannelLogoutURI               string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired   bool            `json:"backchannel_logout_session_required,omitempty"`
	Scope                              string          `json:"scope,omitempty"` // allowed scopes, space-separated
	Contacts                           []string        `json:"contacts,omitempty"`

	// Purpose says, in a sentence residents read on the consent page, why
	// the service asks for their personal data (eidp extension, plain text).
	Purpose string `json:"eidp_purpose,omitempty"`
	// PurposeZH is Purpose in Traditional Chinese (RFC 7591 §2.2 tag).
	PurposeZH string `json:"eidp_purpose#zh-Hant,omitempty"`

	// AllowIDCard permits ScopeIDCard in Scope.
	AllowIDCard bool `json:"allow_id_card,omitempty"`
	// Admin permits the client to use the admin API.
	Admin bool `json:"admin,omitempty"`

	CreatedAt time.Time `json:"created_at,omitzero"` // set by the Store
	UpdatedAt time.Time `json:"updated_at,omitzero"` // set by the Store

	// ClientSecretHash is the hex SHA-256 of the client's secret, set by the
	// Store for client_secret_* clients. Never marshalled; the Store ignores
	// it on Create and Update.
	ClientSecretHash string `json:"-"`
	// ClientSecretExpiresAt is RFC 7591 §3.2.1's client_secret_expires_at:
	// always 0, secrets do not expire (they are rotated). Marshalled only for
	// clients that have a secret.
	ClientSecretExpiresAt int64 `json:"client_secret_expires_at"`
}

// MarshalJSON writes the client's metadata. client_secret_expires_at
// appears only for clients that authenticate with a secret (RFC 7591 §3.2.1:
// it goes with a client_secret).
func (c Client) MarshalJSON() ([]byte, error) {
	type plain Client // without the method, so that Marshal does not recurse
	out := struct {
		plain
		ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	}{plain: plain(c)}
	if c.UsesSecret() {
		out.ClientSecretExpiresAt = &c.ClientSecretExpiresAt
	}
	return json.Marshal(out)
}

// LangZHHant is the one language tag eidp accepts on human-readable metadata
// (RFC 7591 §2.2): client_name#zh-Hant and eidp_purpose#zh-Hant. The
// untagged values are the English ones.
const LangZHHant = "zh-Hant"

// Localized returns the client's name and purpose for a resident reading
// lang (a BCP 47 tag, RFC 5646): any Chinese tag ("zh", "zh-Hant",
// "zh-HK", …; compared without regard to case) gets the #zh-Hant variants
// where they are set, every other language the untagged values. purpose is
// empty when the client registered none.
func (c Client) Localized(lang string) (name, purpose string) {
	name, purpose = c.ClientName, c.Purpose
	primary, _, _ := strings.Cut(strings.ReplaceAll(lang, "_", "-"), "-")
	if !strings.EqualFold(primary, "zh") {
		return name, purpose
	}
	if c.ClientNameZH != "" {
		name = c.ClientNameZH
	}
	if c.PurposeZH != "" {
		purpose = c.PurposeZH
	}
	return name, purpose
}

// UsesSecret reports whether the client authenticates with a client secret
// (client_secret_basic or client_secret_post).
func (c Client) UsesSecret() bool {
	return c.TokenEndpointAuthMethod == AuthClientSecretBasic || c.TokenEndpointAuthMethod == AuthClientSecretPost
}

// IsPublic reports whether the client is a public client (RFC 6749 §2.1):
// it has no credentials (token_endpoint_auth_method none).
func (c Client) IsPublic() bool { return c.TokenEndpointAuthMethod == AuthNone }

// HasGrant reports whether the client registered the grant type.
func (c Client) HasGrant(grant string) bool { return slices.Contains(c.GrantTypes, grant) }

// Scopes returns the client's allowed scopes.
func (c Client) Scopes() []string { return strings.Fields(c.Scope) }

// IsScopeAllowed reports whether the client may ask for scope. ScopeIDCard
// also needs AllowIDCard, and ScopeAdmin needs Admin, whatever the stored
// scope says.
func (c Client) IsScopeAllowed(scope string) bool {
	if scope == ScopeIDCard && !c.AllowIDCard || scope == ScopeAdmin && !c.Admin {
		return false
	}
	return slices.Contains(c.Scopes(), scope)
}

// SectorIdentifier returns the host that pairwise subject identifiers are
// computed for (OpenID Connect Core §8.1): the host of sector_identifier_uri
// when registered, otherwise the host of the redirect URIs, which Validate
// ensures is one host. It is empty for a client without either (a
// client_credentials-only client, which sees no residents).
func (c Client) SectorIdentifier() string {
	sector, err := subject.SectorIdentifier(c.RedirectURIs, c.SectorIdentifierURI)
	if err != nil {
		return ""
	}
	return sector
}

// WithDefaults returns c with the defaults of RFC 7591 §2 and eidp filled
// into empty fields, so that the stored metadata says what applies:
//
//	grant_types                  authorization_code (RFC 7591 §2)
//	response_types               code, when the client has the authorization_code grant
//	token_endpoint_auth_method   client_secret_basic (RFC 7591 §2)
//	id_token_signed_response_alg ES256 (DefaultIDTokenAlg)
//	subject_type                 pairwise
//	scope                        openid, when the client has the authorization_code grant
//
// A JSON null for jwks counts as absent.
func (c Client) WithDefaults() Client {
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode}
	}
	if len(c.ResponseTypes) == 0 && c.HasGrant(GrantAuthorizationCode) {
		c.ResponseTypes = []string{ResponseTypeCode}
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthClientSecretBasic
	}
	if c.IDTokenSignedResponseAlg == "" {
		c.IDTokenSignedResponseAlg = DefaultIDTokenAlg
	}
	if c.SubjectType == "" {
		c.SubjectType = SubjectPairwise
	}
	if c.Scope == "" && c.HasGrant(GrantAuthorizationCode) {
		c.Scope = "openid"
	}
	if raw := bytes.TrimSpace(c.JWKS); len(raw) == 0 || string(raw) == "null" {
		c.JWKS = nil
	}
	return c
}

// unknownField pulls the field name out of encoding/json's error for
// DisallowUnknownFields, which has no error type of its own.
var unknownField = regexp.MustCompile(`unknown field "([^"]*)"`)

// ParseMetadata reads a client's metadata from a JSON document as an
// operator writes it (RFC 7591 names; at most MaxMetadataSize bytes). It
// refuses unknown fields, so that a misspelt name is an error rather than a
// silently missing setting (a future RFC 7591 registration endpoint must
// instead ignore them, RFC 7591 §2), and refuses client_secret: eidp
// generates secrets. It accepts the read-only fields of the client's JSON
// form (client_id, created_at, updated_at, client_secret_expires_at), so
// that the output of `eidp clients show` can be edited and fed back. It does
// not validate: call WithDefaults and Validate (the Store does).
func ParseMetadata(data []byte) (Client, error) {
	if len(data) > MaxMetadataSize {
		return Client{}, &ValidationError{Field: "metadata", Msg: fmt.Sprintf("is %d bytes; at most %d are accepted", len(data), MaxMetadataSize)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Client
	if err := dec.Decode(&c); err != nil {
		return Client{}, metadataDecodeError(err)
	}
	if dec.More() {
		return Client{}, &ValidationError{Field: "metadata", Msg: "has more than one JSON value; give one JSON object"}
	}
	return c, nil
}

func metadataDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &ValidationError{Field: typeErr.Field, Msg: fmt.Sprintf("is a JSON %s; it must be %s", typeErr.Value, jsonKind(typeErr.Type.String()))}
	case errors.As(err, &typeErr):
		return &ValidationError{Field: "metadata", Msg: "must be a JSON object"}
	case errors.As(err, &syntaxErr):
		return &ValidationError{Field: "metadata", Msg: fmt.Sprintf("is not valid JSON at byte %d: %v", syntaxErr.Offset, err)}
	case errors.Is(err, io.EOF):
		return &ValidationError{Field: "metadata", Msg: "is empty; give a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Field: "metadata", Msg: "is not valid JSON: it ends in the middle of a value"}
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		switch m[1] {
		case "client_secret", "client_secret_hash":
			return &ValidationError{Field: m[1], Msg: "eidp generates client secrets; remove it (create and rotate-secret print the secret once)"}
		}
		if base, tag, ok := strings.Cut(m[1], "#"); ok {
			return languageTagError(m[1], base, tag)
		}
		return &ValidationError{Field: m[1], Msg: "is not a client metadata name eidp knows; check its spelling against RFC 7591 §2 and OpenID Connect Registration §2"}
	}
	return &ValidationError{Field: "metadata", Msg: "cannot be read: " + err.Error()}
}

// localizedFields are the human-readable fields with a #zh-Hant variant;
// taggableURIs are the RFC 7591 §2.2 fields eidp keeps in one version only.
var (
	localizedFields = []string{"client_name", "eidp_purpose"}
	taggableURIs    = []string{"client_uri", "logo_uri", "policy_uri", "tos_uri"}
)

// languageTagError explains a language-tagged name (RFC 7591 §2.2) that
// eidp does not keep, rather than dropping the value silently: residents
// would see the untagged text where the operator meant a translation.
func languageTagError(field, base, tag string) *ValidationError {
	switch {
	case slices.Contains(localizedFields, base):
		return &ValidationError{Field: field, Msg: fmt.Sprintf("the language tag %q is not supported: residents read eidp in English (the untagged %s) or Traditional Chinese (%s#%s); use one of those", tag, base, base, LangZHHant)}
	case slices.Contains(taggableURIs, base):
		return &ValidationError{Field: field, Msg: fmt.Sprintf("language-tagged variants of %s are not supported; give one %s for every language", base, base)}
	}
	return &ValidationError{Field: field, Msg: "is not a client metadata name eidp knows; check its spelling against RFC 7591 §2 and OpenID Connect Registration §2"}
}

// jsonKind names a Go type as the JSON an operator must write.
func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "[]string":
		return "an array of strings"
	case "bool":
		return "true or false"
	case "int64":
		return "a number"
	case "time.Time":
		return "an RFC 3339 time"
	}
	return "of type " + goType
}
