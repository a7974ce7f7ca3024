package passkey

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"eidp/internal/db"
)

// Attestation conveyance preferences (WebAuthn L3 §5.4.7) a Policy may ask for.
const (
	AttestationNone     = "none"
	AttestationIndirect = "indirect"
	AttestationDirect   = "direct"
)

// What to do when an authenticator's signature counter goes backwards.
const (
	// RegressionBlock records the regression and blocks the credential: the
	// likely cause is a cloned authenticator.
	RegressionBlock = "block"
	// RegressionFlag records the regression (Credential.SignCountRegressedAt)
	// and lets the ceremony succeed.
	RegressionFlag = "flag"
)

// BlockedSignCountRegression is Credential.BlockedReason for a credential
// blocked because its signature counter went backwards (§6.1.1).
const BlockedSignCountRegression = "sign_count_regression"

// Policy says which authenticators and which behaviour the city accepts
// beyond what WebAuthn itself requires. The zero Policy is the default: no
// attestation asked for, every authenticator model, zero AAGUIDs and synced
// (backup-eligible) passkeys accepted, a counter regression blocks.
//
// The two Deny* switches are phrased so that their zero value is the
// default: a configuration that sets only Attestation must not, by leaving
// a boolean out, shut out every synced passkey.
type Policy struct {
	// Attestation is the conveyance preference (§5.4.7): "none" (default,
	// also ""), "indirect" or "direct". Whatever the authenticator returns
	// must verify; without a metadata service no attestation root is
	// trusted, so this does not prove the model.
	Attestation string
	// AAGUIDAllow, if non-empty, admits only these authenticator models
	// (§6.5.1); the zero AAGUID is governed by DenyZeroAAGUID alone.
	AAGUIDAllow []uuid.UUID
	// AAGUIDDeny refuses these models. A model may not be in both lists.
	AAGUIDDeny []uuid.UUID
	// DenyZeroAAGUID refuses authenticators that report the all-zero AAGUID,
	// as many platform and synced passkeys do. Default false: accepted.
	DenyZeroAAGUID bool
	// DenyBackupEligible refuses backup-eligible (synced) passkeys, leaving
	// only device-bound ones (§6.1.3). Default false: accepted.
	DenyBackupEligible bool
	// OnSignCountRegression is "block" (default, also "") or "flag".
	OnSignCountRegression string
}

// Config configures a Service.
type Config struct {
	// RPID is the Relying Party ID (§4, RP ID): a domain, e.g. "localhost" or
	// "id.example.gov", equal to or a registrable suffix of every origin's
	// host. Passkeys are bound to it: changing it orphans them all.
	RPID string
	// RPDisplayName is shown by some authenticators; default RPID.
	RPDisplayName string
	// Origins are the exact origins pages are served from, e.g.
	// "https://id.example.gov" or "http://localhost:8080" (plain http only
	// for localhost, which browsers treat as a secure context).
	Origins []string
	// ChallengeTTL bounds a ceremony from Begin to Finish; default 5 minutes.
	// It is also the timeout the options give the browser.
	ChallengeTTL time.Duration
	Policy       Policy
}

// DefaultChallengeTTL is Config.ChallengeTTL when zero.
const DefaultChallengeTTL = 5 * time.Minute

// maxChallengeTTL bounds Config.ChallengeTTL: a challenge is a bearer of a
// pending ceremony, it should not outlive one.
const maxChallengeTTL = time.Hour

// User describes a resident to their authenticator at registration (§5.4.3).
type User struct {
	// ResidentID is the random internal account ID. Its bytes are the user
	// handle (user.id) the authenticator stores and returns at login; it
	// must never carry personal data. 1 to 64 bytes.
	ResidentID string
	// Name is what authenticators show in account pickers, e.g.
	// "CHAN Tai Man". Required.
	Name string
	// DisplayName is a friendlier form of Name; default Name.
	DisplayName string
}

// Credential is a resident's passkey as stored.
type Credential struct {
	ID                []byte // credential ID (§4, "Credential ID")
	ResidentID        string
	PublicKey         []byte // COSE_Key (§6.5.1.1)
	AAGUID            uuid.UUID
	AttestationFormat string   // "none", "packed", …
	SignCount         uint32   // the highest counter seen (§6.1.1)
	BackupEligible    bool     // BE flag: a synced (multi-device) passkey
	BackupState       bool     // BS flag at the last use: currently backed up
	Transports        []string // hints for the browser: "internal", "hybrid", "usb" …
	Nickname          string
	CreatedAt         time.Time
	LastUsedAt        time.Time // zero: never used since registration
	BlockedAt         time.Time // zero: not blocked
	BlockedReason     string    // e.g. BlockedSignCountRegression
	// SignCountRegressedAt is the last time the signature counter went
	// backwards; zero if it never did. Under RegressionFlag this is the only
	// trace a regression leaves.
	SignCountRegressedAt time.Time
}

// IDString returns the credential ID as base64url without padding: the key
// the database uses and what pages and forms show.
func (c Credential) IDString() string { return base64.RawURLEncoding.EncodeToString(c.ID) }

// Blocked reports whether the credential may no longer be used.
func (c Credential) Blocked() bool { return !c.BlockedAt.IsZero() }

// Errors at the package boundary; match them with errors.Is. The text is for
// logs; residents see a message chosen by the web layer.
var (
	// ErrChallenge: no pending ceremony matches the response: the challenge
	// is unknown, expired, already used, of another ceremony or resident, or
	// was begun by another browser flow. The resident should start again.
	ErrChallenge = errors.New("passkey: no matching ceremony (unknown, expired or used challenge, or another flow)")
	// ErrVerification: the response is malformed or does not verify:
	// signature, origin, RP ID, ceremony type, user handle, flags …
	ErrVerification = errors.New("passkey: response did not verify")
	// ErrUserVerification: an otherwise valid response without the UV flag:
	// the authenticator did not verify the resident (fingerprint, face, PIN).
	ErrUserVerification = errors.New("passkey: authenticator did not verify the user")
	// ErrPolicy: the authenticator is refused by Policy; the error is a
	// *PolicyError that says why.
	ErrPolicy = errors.New("passkey: refused by policy")
	// ErrCredentialBlocked: the credential is blocked (possibly just now,
	// by a signature-counter regression) and can no longer be used.
	ErrCredentialBlocked = errors.New("passkey: credential blocked")
	// ErrSignCountRegressed comes with ErrCredentialBlocked when this very
	// ceremony found the counter gone backwards and blocked the credential
	// (so the caller records the event once, not on every later attempt).
	ErrSignCountRegressed = errors.New("passkey: signature counter went backwards")
	// ErrUnknownCredential: no stored credential has the response's ID
	// (for instance it was removed). The page may tell the browser with
	// PublicKeyCredential.signalUnknownCredential (§5.1.10).
	ErrUnknownCredential = errors.New("passkey: unknown credential")
	// ErrLastCredential: removing this credential would leave the resident
	// without a usable passkey.
	ErrLastCredential = errors.New("passkey: last usable credential")
	// ErrNotFound: no such credential for this resident, or (BeginReauth)
	// the resident has no usable credential.
	ErrNotFound = errors.New("passkey: not found")
	// ErrInvalidNickname: a nickname longer than 64 characters or with
	// control characters.
	ErrInvalidNickname = errors.New("passkey: invalid nickname")
)

// Reasons a PolicyError gives.
const (
	ReasonAAGUIDDenied       = "aaguid_denied"        // model on the deny list
	ReasonAAGUIDNotAllowed   = "aaguid_not_allowed"   // allow list set, model not on it
	ReasonZeroAAGUID         = "zero_aaguid"          // DenyZeroAAGUID and the AAGUID is zero
	ReasonBackupEligible     = "backup_eligible"      // DenyBackupEligible and BE is set
	ReasonTooManyCredentials = "too_many_credentials" // the resident has MaxCredentials already
)

// PolicyError is the error for a credential that Policy refuses. It matches
// ErrPolicy with errors.Is.
type PolicyError struct {
	Reason string // one of the Reason* constants
	AAGUID uuid.UUID
}

func (e *PolicyError) Error() string {
	if e.Reason == ReasonTooManyCredentials {
		return fmt.Sprintf("%v: %s (at most %d)", ErrPolicy, e.Reason, MaxCredentials)
	}
	return fmt.Sprintf("%v: %s (AAGUID %s)", ErrPolicy, e.Reason, e.AAGUID)
}

// Is makes errors.Is(err, ErrPolicy) true.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

// failure is the error the ceremonies return: a sentinel, the cause (often a
// go-webauthn *protocol.Error) and a detail for logs only.
type failure struct {
	kind   error
	cause  error
	detail string
}

func (f *failure) Error() string {
	if f.cause == nil {
		return f.kind.Error()
	}
	return f.kind.Error() + ": " + f.cause.Error()
}

func (f *failure) Unwrap() []error {
	if f.cause == nil {
		return []error{f.kind}
	}
	return []error{f.kind, f.cause}
}

func fail(kind, cause error, detail string) error {
	return &failure{kind: kind, cause: cause, detail: detail}
}

// LogDetail returns err's text with what is meant for server logs only:
// go-webauthn's DevInfo (expected and received origin, challenge …) and
// this package's own detail (why a challenge did not match …). Never show
// it to residents or clients.
func LogDetail(err error) string {
	if err == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(err.Error())
	var f *failure
	if errors.As(err, &f) && f.detail != "" {
		b.WriteString(" [detail: " + f.detail + "]")
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.Type != "" {
			b.WriteString(" [webauthn type: " + pe.Type + "]")
		}
		if pe.DevInfo != "" {
			b.WriteString(" [webauthn info: " + pe.DevInfo + "]")
		}
		if pe.Err != nil {
			b.WriteString(" [webauthn cause: " + pe.Err.Error() + "]")
		}
	}
	return b.String()
}

// Service runs the ceremonies and keeps the credentials. It is safe for
// concurrent use; all state is in the database, so any number of nodes may
// share it.
type Service struct {
	db     *db.DB
	wa     *webauthn.WebAuthn
	cfg    Config
	now    func() time.Time
	swept  atomic.Int64 // Unix µs of the last sweep of expired challenges
	params []protocol.CredentialParameter
}

// New returns a Service on d, which must be migrated. It checks cfg and
// fills in its defaults; the error says what to change.
func New(d *db.DB, cfg Config) (*Service, error) {
	if d == nil {
		return nil, errors.New("passkey: nil database")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ttl := cfg.ChallengeTTL
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     slices.Clone(cfg.Origins),
		// §5.4.7.
		AttestationPreference: protocol.ConveyancePreference(cfg.Policy.Attestation),
		// §5.4.4: discoverable credentials with user verification, on any
		// kind of authenticator (no authenticatorAttachment).
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: protocol.ResidentKeyRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationRequired,
		},
		// The browser's timeout matches the challenge's lifetime; expiry
		// itself is checked against the database row, not by go-webauthn.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ttl, TimeoutUVD: ttl},
			Registration: webauthn.TimeoutConfig{Timeout: ttl, TimeoutUVD: ttl},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{
		db:     d,
		wa:     wa,
		cfg:    cfg,
		now:    time.Now,
		params: credentialParameters(),
	}, nil
}

// validate checks c and fills in defaults.
func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("passkey: config: "+format, args...)
	}
	if c.RPID == "" {
		return bad("RPID is empty: set it to the domain residents see, e.g. \"id.example.gov\" or \"localhost\"")
	}
	if c.RPID != strings.ToLower(c.RPID) {
		return bad("RPID %q must be lower case", c.RPID)
	}
	if err := protocol.ValidateRPID(c.RPID); err != nil {
		return bad("RPID %q is not a domain (%v); an IP address cannot be an RP ID", c.RPID, err)
	}
	if !strings.Contains(c.RPID, ".") && c.RPID != "localhost" {
		return bad("RPID %q is a single label: use a full domain such as \"id.example.gov\" (or \"localhost\")", c.RPID)
	}
	if c.RPDisplayName == "" {
		c.RPDisplayName = c.RPID
	}
	if len(c.Origins) == 0 {
		return bad("Origins is empty: list the exact origins pages are served from, e.g. \"https://%s\"", c.RPID)
	}
	for _, o := range c.Origins {
		if err := checkOrigin(o, c.RPID); err != nil {
			return bad("origin %q: %v", o, err)
		}
	}
	switch {
	case c.ChallengeTTL == 0:
		c.ChallengeTTL = DefaultChallengeTTL
	case c.ChallengeTTL < 0 || c.ChallengeTTL > maxChallengeTTL:
		return bad("ChallengeTTL %v: want a positive duration up to %v (default %v)", c.ChallengeTTL, maxChallengeTTL, DefaultChallengeTTL)
	}
	p := &c.Policy
	switch p.Attestation {
	case "":
		p.Attestation = AttestationNone
	case AttestationNone, AttestationIndirect, AttestationDirect:
	default:
		return bad("Policy.Attestation %q: want \"none\", \"indirect\" or \"direct\"", p.Attestation)
	}
	switch p.OnSignCountRegression {
	case "":
		p.OnSignCountRegression = RegressionBlock
	case RegressionBlock, RegressionFlag:
	default:
		return bad("Policy.OnSignCountRegression %q: want \"block\" or \"flag\"", p.OnSignCountRegression)
	}
	for _, id := range slices.Concat(p.AAGUIDAllow, p.AAGUIDDeny) {
		if id == uuid.Nil {
			return bad("the zero AAGUID cannot be listed in AAGUIDAllow or AAGUIDDeny; use Policy.DenyZeroAAGUID")
		}
	}
	for _, id := range p.AAGUIDAllow {
		if slices.Contains(p.AAGUIDDeny, id) {
			return bad("AAGUID %s is in both AAGUIDAllow and AAGUIDDeny", id)
		}
	}
	p.AAGUIDAllow = slices.Clone(p.AAGUIDAllow)
	p.AAGUIDDeny = slices.Clone(p.AAGUIDDeny)
	c.Origins = slices.Clone(c.Origins)
	return nil
}

// checkOrigin accepts an exact web origin (scheme://host[:port]) whose host
// is rpID or a subdomain of it (§4, RP ID: "a registrable domain suffix
// of or is equal to" the origin's effective domain). Public suffixes are not
// detected here; a browser refuses them at the first ceremony.
func checkOrigin(origin, rpID string) error {
	u, err := url.Parse(origin)
	if err != nil {
		return err
	}
	if !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return errors.New("want an absolute origin such as https://" + rpID)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(origin, "/") {
		return errors.New("want only scheme://host[:port], without user, path, query, fragment or trailing slash")
	}
	host := u.Hostname()
	if host != strings.ToLower(host) {
		return errors.New("the host must be lower case")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if host != "localhost" {
			return errors.New("plain http is only for localhost; use https")
		}
	default:
		return errors.New("the scheme must be https (or http for localhost)")
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return fmt.Errorf("the host %q is neither the RP ID %q nor a subdomain of it", host, rpID)
	}
	return nil
}

// credentialParameters lists the algorithms offered at registration in
// order of preference (§5.4, pubKeyCredParams; §5.8.5 recommends EdDSA,
// ES256 and RS256): ES256 is what nearly every passkey uses; RS256 is for
// Windows Hello.
func credentialParameters() []protocol.CredentialParameter {
	var params []protocol.CredentialParameter
	for _, alg := range []webauthncose.COSEAlgorithmIdentifier{webauthncose.AlgES256, webauthncose.AlgEdDSA, webauthncose.AlgRS256} {
		params = append(params, protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType, Algorithm: alg})
	}
	return params
}
