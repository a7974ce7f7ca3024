package interaction

import (
	"context"
	"errors"
	"time"

	"eidp/idp/session"
)

// ErrNotFound: the pending authorization request does not exist, has
// expired, was already answered, or belongs to another resident. Pages show
// a "this request has expired; go back to the service and try again" page.
var ErrNotFound = errors.New("interaction: no such pending request")

// Client is what the resident is told about the relying party. Localized
// fields are already chosen for the language asked for; empty ones are not
// shown.
type Client struct {
	ID        string
	Name      string // client_name (or client_name#zh-Hant)
	Purpose   string // why the service asks (eidp_purpose), may be empty
	LogoURI   string // https URL of the logo, may be empty
	ClientURI string // the service's home page, may be empty
	PolicyURI string // privacy policy, may be empty
	TOSURI    string // terms of service, may be empty
}

// Claim is one piece of personal data a relying party asks for.
type Claim struct {
	Name      string // claim name, e.g. "birthdate", "name#zh-Hant", "eidp_id_number"
	Essential bool   // essential claims cannot be unticked; the others can
	// For vault claims (address, phone_number, email, eidp_*): Label is the
	// attribute's name in the page language, Preview a recognisable part of
	// the value the resident keeps (vault/attr Preview), Missing true when
	// the vault holds no such value (nothing would be released).
	Label   string
	Preview string
	Missing bool
}

// Prompt is a pending authorization request waiting for the resident's
// consent.
type Prompt struct {
	ID     string // pending request ID (the id query parameter)
	Client Client
	Claims []Claim // in display order; "sub" is never listed
	// Offline is true when the client asks to keep access while the
	// resident is away (offline_access): the page says so.
	Offline bool
}

// Consent is one remembered consent, for the account page.
type Consent struct {
	Client    Client
	Claims    []string // claim names the resident agreed to release
	GrantedAt time.Time
	UpdatedAt time.Time
}

// Service is implemented by the OpenID Provider and used by web/. lang is
// the page's language ("en" or "zh-Hant"), used to localize Client fields.
// Every method checks that the request belongs to sess's resident.
type Service interface {
	// Consent returns the pending request id for sess. ErrNotFound if it
	// is unknown, expired or someone else's.
	Consent(ctx context.Context, id string, sess session.Session, lang string) (Prompt, error)
	// Approve records the resident's consent — every essential claim plus
	// the optional claims in keep (names not asked for are ignored) — and
	// completes the authorization. It returns the URL to send the browser
	// to (the client's redirect_uri with code, state and iss).
	Approve(ctx context.Context, id string, sess session.Session, keep []string) (redirect string, err error)
	// Deny ends the request with access_denied and returns the URL to send
	// the browser to (the client's redirect_uri with the error).
	Deny(ctx context.Context, id string, sess session.Session) (redirect string, err error)
	// Consents lists the resident's remembered consents, newest first.
	Consents(ctx context.Context, residentID, lang string) ([]Consent, error)
	// Revoke withdraws the resident's consent for clientID and revokes
	// every token the client holds for the resident. ErrNotFound if there
	// was no consent.
	Revoke(ctx context.Context, residentID, clientID string) error
}

// SigningDocument is a document a service asks the resident to sign: the
// label shown and its digest.
type SigningDocument struct {
	Label string `json:"label"`
	Hash  []byte `json:"hash"`
}

// SigningAuthorization is a credential authorization asked for at the
// authorization endpoint (CSC API v2 §8.4.2 scope=credential, or RFC 9396
// authorization_details of type "credential").
type SigningAuthorization struct {
	CredentialID     string            `json:"credential_id"`
	HashAlgorithmOID string            `json:"hash_algorithm_oid"`
	Documents        []SigningDocument `json:"documents"`
	Description      string            `json:"description,omitempty"`
}

// Signing states as SigningState reports them.
const (
	SigningPending  = "pending"
	SigningApproved = "approved"
	SigningDenied   = "denied"
	SigningExpired  = "expired"
)

// ErrSigningRefused wraps why a credential authorization cannot even be
// asked for (unknown or revoked credential, another resident's, malformed
// digests): the provider answers the client with invalid_request.
var ErrSigningRefused = errors.New("interaction: signing request refused")

// Signing is the signing service's side of a credential authorization
// (implemented by signing/csc): the provider creates the signing request
// once the resident is known, sends the resident to its approval page, and
// once approved issues the code whose access token is the activation data.
type Signing interface {
	// BeginSigning creates the request for the resident and returns its ID.
	BeginSigning(ctx context.Context, clientID, residentID string, a SigningAuthorization) (string, error)
	// SigningState is one of the Signing* states.
	SigningState(ctx context.Context, id, residentID string) (string, error)
	// BindSigning ties an approved request to the grant whose access token
	// activates it.
	BindSigning(ctx context.Context, id, grantID string) error
	// ApprovalPath is the approval page of request id, to which next (a
	// local path) is added by the provider.
	ApprovalPath(id string) string
}
