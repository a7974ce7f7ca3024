package ca

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/internal/db"
)

// Errors. Callers compare with errors.Is; messages carry no secrets.
var (
	ErrNotInitialised   = errors.New("ca: the CA hierarchy is not initialised (run `eidp ca init`)")
	ErrAssuranceTooLow  = errors.New("ca: a signing certificate needs assurance level high")
	ErrInvalidRequest   = errors.New("ca: invalid certificate request")
	ErrNoCertificate    = errors.New("ca: no valid certificate")
	ErrNotFound         = errors.New("ca: certificate not found")
	ErrRevoked          = errors.New("ca: certificate revoked")
	ErrExpired          = errors.New("ca: certificate expired or not yet valid")
	ErrAlreadyRevoked   = errors.New("ca: certificate already revoked")
	ErrBadReason        = errors.New("ca: revocation reason not allowed")
	ErrNoKeyWrapper     = errors.New("ca: the key backend cannot keep wrapped keys")
	ErrInvalidConfig    = errors.New("ca: invalid configuration")
	errConcurrentUpdate = errors.New("ca: concurrent update")
)

// Revocation reasons (RFC 5280 §5.3.1 CRLReason) that Revoke accepts.
// certificateHold (6) is deliberately not used: a revocation here is final.
const (
	ReasonUnspecified          = 0
	ReasonKeyCompromise        = 1
	ReasonAffiliationChanged   = 3
	ReasonSuperseded           = 4
	ReasonCessationOfOperation = 5
)

var allowedReasons = map[int]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
}

// ReasonName is the RFC 5280 name of a revocation reason.
func ReasonName(reason int) string {
	if n, ok := allowedReasons[reason]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", reason)
}

// ParseReason accepts a reason by its RFC 5280 name ("keyCompromise").
func ParseReason(s string) (int, error) {
	for code, name := range allowedReasons {
		if strings.EqualFold(name, s) {
			return code, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (use unspecified, keyCompromise, affiliationChanged, superseded or cessationOfOperation)", ErrBadReason, s)
}

// Defaults of Config.
const (
	DefaultOrganization     = "eidp"
	DefaultCountry          = "HK"
	DefaultResidentValidity = 2 * 365 * 24 * time.Hour
	DefaultCRLValidity      = 24 * time.Hour
	DefaultRootCRLValidity  = 180 * 24 * time.Hour
	DefaultOCSPValidity     = time.Hour
	rootValidity            = 20 * 365 * 24 * time.Hour
	issuingValidity         = 10 * 365 * 24 * time.Hour
	tsaValidity             = 5 * 365 * 24 * time.Hour
	ocspCertValidity        = 365 * 24 * time.Hour
	// renewBefore: Init renews the OCSP (and TSA) certificate when less
	// than this is left.
	renewBefore = 30 * 24 * time.Hour
)

// Config is what the CA needs to know. Zero durations take the defaults.
type Config struct {
	// BaseURL is the public URL of eidp (the OpenID issuer, for example
	// http://localhost:8080); the URLs in certificates (AIA, CRL
	// distribution points) are built from it, under /pki/.
	BaseURL string
	// Organization and Country (ISO 3166-1 alpha-2) go into the CA
	// subjects; Country also into residents' subjects. Defaults: "eidp", "HK".
	Organization, Country string
	// ResidentValidity is how long residents' certificates are valid (2 years).
	ResidentValidity time.Duration
	// CRLValidity is the issuing CA's CRL nextUpdate − thisUpdate (24 h).
	CRLValidity time.Duration
	// RootCRLValidity is the root CRL's nextUpdate − thisUpdate (180 days).
	RootCRLValidity time.Duration
	// OCSPValidity is an OCSP response's nextUpdate − thisUpdate (1 h).
	OCSPValidity time.Duration
	// ResidentKeyAlgorithm is the algorithm of residents' keys (EC-P256).
	ResidentKeyAlgorithm hsm.Algorithm
	// CPSURI, if set, is added to the certificate policy as a CPS pointer
	// qualifier (RFC 5280 §4.2.1.4).
	CPSURI string
}

func (c *Config) validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: BaseURL %q must be an absolute http(s) URL without query or fragment", ErrInvalidConfig, c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Organization == "" {
		c.Organization = DefaultOrganization
	}
	if c.Country == "" {
		c.Country = DefaultCountry
	}
	if len(c.Country) != 2 || strings.ToUpper(c.Country) != c.Country || c.Country[0] < 'A' || c.Country[0] > 'Z' || c.Country[1] < 'A' || c.Country[1] > 'Z' {
		return fmt.Errorf("%w: Country %q must be an ISO 3166-1 alpha-2 code such as HK", ErrInvalidConfig, c.Country)
	}
	if err := checkName("Organization", c.Organization); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&c.ResidentValidity, DefaultResidentValidity}, {&c.CRLValidity, DefaultCRLValidity},
		{&c.RootCRLValidity, DefaultRootCRLValidity}, {&c.OCSPValidity, DefaultOCSPValidity}} {
		if *d.p < 0 {
			return fmt.Errorf("%w: negative duration %s", ErrInvalidConfig, *d.p)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if c.ResidentKeyAlgorithm == "" {
		c.ResidentKeyAlgorithm = hsm.ECP256
	}
	if c.ResidentKeyAlgorithm.Symmetric() {
		return fmt.Errorf("%w: ResidentKeyAlgorithm %s does not sign", ErrInvalidConfig, c.ResidentKeyAlgorithm)
	}
	if c.CPSURI != "" {
		if u, err := url.Parse(c.CPSURI); err != nil || !u.IsAbs() || !isIA5(c.CPSURI) {
			return fmt.Errorf("%w: CPSURI %q must be an absolute ASCII URL", ErrInvalidConfig, c.CPSURI)
		}
	}
	return nil
}

// The URLs the CA publishes under Config.BaseURL (served by Handler).
const (
	PathRootCert    = "/pki/root.crt"
	PathIssuingCert = "/pki/residents-ca.crt"
	PathRootCRL     = "/pki/root.crl"
	PathIssuingCRL  = "/pki/residents.crl"
	PathOCSP        = "/pki/ocsp"
)

// Hierarchy is the CA's current certificates.
type Hierarchy struct {
	Root, Issuing, TSA, OCSP *x509.Certificate
}

// Authority is the CA. It is safe for concurrent use; several nodes may
// share one database.
type Authority struct {
	db   *db.DB
	ring *keyring.Keyring
	km   hsm.KeyManager
	cfg  Config
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	parsed  map[string]*x509.Certificate // by ca_certificates.id (rows never change)
	signers map[string]hsm.Signer        // by hsm_keys.id
}

// Option configures an Authority.
type Option func(*Authority)

// WithClock sets the time source (default time.Now), for tests.
func WithClock(now func() time.Time) Option { return func(a *Authority) { a.now = now } }

// WithLogger sets where the CA logs what it cannot return (a CRL that could
// not be regenerated after a committed revocation). Default: discard.
func WithLogger(l *slog.Logger) Option { return func(a *Authority) { a.log = l } }

// New returns the CA over a database, the key registry and the backend that
// holds the keys.
func New(d *db.DB, keys *keyring.Keyring, km hsm.KeyManager, cfg Config, opts ...Option) (*Authority, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Authority{db: d, ring: keys, km: km, cfg: cfg, now: time.Now, log: slog.New(slog.DiscardHandler),
		parsed: map[string]*x509.Certificate{}, signers: map[string]hsm.Signer{}}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Config returns the configuration with defaults applied.
func (a *Authority) Config() Config { return a.cfg }

func (a *Authority) clock() time.Time { return a.now().UTC() }

func (a *Authority) url(path string) string { return a.cfg.BaseURL + path }

func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// serialText is how serial numbers are stored: lowercase hex.
func serialText(n *big.Int) string { return n.Text(16) }
