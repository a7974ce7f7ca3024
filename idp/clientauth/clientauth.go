package clientauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/client"
	"eidp/internal/db"
	"eidp/internal/fetch"
)

// Errors at the package boundary, each with its OAuth error code. Every
// error of Authenticate and VerifyRequestObject that is the client's doing
// is an *Error wrapping one of them; match them with errors.Is.
var (
	// ErrInvalidClient: client authentication failed (RFC 6749 §5.2
	// invalid_client, HTTP 401).
	ErrInvalidClient = errors.New("clientauth: invalid client")
	// ErrInvalidRequest: the request is malformed, for example it uses two
	// authentication methods at once (RFC 6749 §5.2 invalid_request).
	ErrInvalidRequest = errors.New("clientauth: invalid request")
	// ErrInvalidRequestObject: the request object is not acceptable (RFC
	// 9101 §6.3 invalid_request_object).
	ErrInvalidRequestObject = errors.New("clientauth: invalid request object")
)

// Error is a refusal with a description safe to send as error_description:
// it says what to fix and never contains a secret, an assertion, or whether
// an unauthenticated client ID exists. It wraps Kind, one of the sentinels.
// The cause, for logs, appears in Error() only.
type Error struct {
	Kind        error
	Description string

	cause error
}

func (e *Error) Error() string {
	s := e.Kind.Error() + ": " + e.Description
	if e.cause != nil {
		s += " (" + e.cause.Error() + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Description: fmt.Sprintf(format, args...), cause: cause}
}

// descAuthFailed is the one description for every failure that must not
// tell whether the client exists: unknown client, wrong secret, a method
// other than the registered one before the client proved who it is, and an
// assertion signature that does not verify.
const descAuthFailed = "client authentication failed"

func authFailed(cause error) *Error {
	return &Error{Kind: ErrInvalidClient, Description: descAuthFailed, cause: cause}
}

// AssertionType is the client_assertion_type of a JWT client assertion
// (RFC 7523 §2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Defaults and limits.
const (
	DefaultMaxAssertionLifetime = 5 * time.Minute
	DefaultLeeway               = 30 * time.Second
	// MaxRequestObjectLifetime bounds a request object's exp (and exp - iat).
	MaxRequestObjectLifetime = time.Hour
	// RefetchInterval is the least time between two refetches of one
	// client's jwks_uri for an unknown kid.
	RefetchInterval = 60 * time.Second

	maxAssertionSize     = 16 << 10
	maxRequestObjectSize = 64 << 10
	maxJTILen            = 256
	maxKeysTried         = 16 // signature checks per JWS without a kid
)

// DefaultAlgs are the JWS algorithms accepted from a client that registered
// no token_endpoint_auth_signing_alg, and for request objects: asymmetric
// only (RFC 7518 §3.1, RFC 8037); never none or HMAC, which would make the
// client's secret, or nothing, the key.
var DefaultAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.PS256, jose.RS256, jose.EdDSA}

// registrableAlgs are the algorithms a client may register as its
// token_endpoint_auth_signing_alg (client.Validate's list): what an
// assertion may be parsed with before the client is known.
var registrableAlgs = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.RS256, jose.RS384, jose.RS512,
	jose.EdDSA,
}

// Options configure an Authenticator.
type Options struct {
	// Issuer is our issuer URL; accepted as an assertion's aud, and the
	// only aud of a request object. Required.
	Issuer string
	// Audiences are further accepted assertion aud values: our token, PAR,
	// introspection and revocation endpoint URLs (RFC 7523 §3 allows the
	// token endpoint URL).
	Audiences []string
	// Fetcher fetches jwks_uri. Without one, clients with a jwks_uri cannot
	// use private_key_jwt or request objects.
	Fetcher *fetch.Fetcher
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MaxAssertionLifetime bounds exp - now and exp - iat of an assertion;
	// default DefaultMaxAssertionLifetime (5 min).
	MaxAssertionLifetime time.Duration
	// Leeway is the clock skew allowed for exp, nbf and iat; default
	// DefaultLeeway (30 s), negative for none.
	Leeway time.Duration
}

// Authenticator authenticates clients and verifies their request objects.
// It is safe for concurrent use; make one per process.
type Authenticator struct {
	db      *db.DB
	clients *client.Store
	opts    Options

	mu          sync.Mutex
	refetchedAt map[string]time.Time // client ID → last refetch for an unknown kid
	fresh       map[string]freshKeys // client ID → the set that refetch got
	refetches   uint64
}

// New returns an Authenticator on d (migrated) and clients. It panics
// without opts.Issuer: that is a configuration error, not a runtime one.
func New(d *db.DB, clients *client.Store, opts Options) *Authenticator {
	if opts.Issuer == "" {
		panic("clientauth: Options.Issuer is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxAssertionLifetime <= 0 {
		opts.MaxAssertionLifetime = DefaultMaxAssertionLifetime
	}
	if opts.Leeway < 0 {
		opts.Leeway = 0
	} else if opts.Leeway == 0 {
		opts.Leeway = DefaultLeeway
	}
	return &Authenticator{
		db:          d,
		clients:     clients,
		opts:        opts,
		refetchedAt: make(map[string]time.Time),
		fresh:       make(map[string]freshKeys),
	}
}

func (a *Authenticator) now() time.Time { return a.opts.Now() }

// Sweep deletes the records of assertions that have expired (and so can
// no longer be replayed) and returns how many.
func (a *Authenticator) Sweep(ctx context.Context) (int64, error) {
	res, err := a.db.ExecContext(ctx, `DELETE FROM oidc_client_assertions WHERE expires_at < $1`,
		db.Timestamp{Time: a.now()})
	if err != nil {
		return 0, fmt.Errorf("clientauth: sweep: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("clientauth: sweep: %w", err)
	}
	return n, nil
}
