package subject

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"sync"

	"eidp/internal/fetch"
)

// Errors.
var (
	// ErrSectorRequired: the redirect URIs do not name one host (several
	// hosts, a URI without host such as a custom scheme, or none at all), so
	// the client must register a sector_identifier_uri (OIDC Core §8.1).
	ErrSectorRequired = errors.New("subject: the redirect URIs do not share one host: a sector_identifier_uri is required")
	// ErrSectorURI: the sector_identifier_uri is not an https URL, or its
	// document could not be fetched or is not a JSON array of URIs.
	ErrSectorURI = errors.New("subject: sector_identifier_uri not usable")
	// ErrSectorMismatch: a redirect URI of the client is not listed in the
	// document at its sector_identifier_uri.
	ErrSectorMismatch = errors.New("subject: redirect URI not listed at the sector_identifier_uri")
	// ErrShortSecret: the pairwise secret has fewer than MinSecretLen bytes.
	ErrShortSecret = errors.New("subject: pairwise secret too short")
)

// MinSecretLen is the shortest pairwise secret accepted: 256 bits, the
// HMAC-SHA256 key size that leaves brute force out of reach.
const MinSecretLen = 32

// SectorIdentifier returns the sector a client's pairwise subjects are
// computed for (OIDC Core 1.0 §8.1): the host of its sector_identifier_uri if
// set, else the host its redirect URIs share (ErrSectorRequired if they do
// not share exactly one). Hosts are compared and returned in lower case
// without a trailing dot; ports and paths do not matter. It only parses:
// ValidateSectorIdentifierURI checks the sector_identifier_uri itself.
func SectorIdentifier(redirectURIs []string, sectorIdentifierURI string) (string, error) {
	if sectorIdentifierURI != "" {
		host, err := hostOf(sectorIdentifierURI)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrSectorURI, err)
		}
		return host, nil
	}
	sector := ""
	for _, raw := range redirectURIs {
		host, err := hostOf(raw)
		if err != nil {
			return "", fmt.Errorf("%w: redirect URI %w", ErrSectorRequired, err)
		}
		if sector == "" {
			sector = host
		} else if host != sector {
			return "", fmt.Errorf("%w: redirect URIs on %s and %s", ErrSectorRequired, sector, host)
		}
	}
	if sector == "" {
		return "", fmt.Errorf("%w: no redirect URIs", ErrSectorRequired)
	}
	return sector, nil
}

func hostOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", raw)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return "", fmt.Errorf("%q has no host", raw)
	}
	return host, nil
}

// ValidateSectorIdentifierURI fetches the client's sector_identifier_uri —
// an https URL of a JSON array of redirect URIs — and checks that every one
// of the client's redirect URIs is in it, by exact string match (OIDC Core
// 1.0 §8.1; OIDC Dynamic Client Registration 1.0 §2 and §5). It runs at
// registration and on every change of either value: it is what stops a
// client from claiming another organisation's host as its sector.
//
// Errors wrap ErrSectorURI (not https, fetch failed — with the fetch error
// wrapped too — or not a JSON array of strings) or ErrSectorMismatch, which
// names the redirect URIs missing from the document.
func ValidateSectorIdentifierURI(ctx context.Context, f *fetch.Fetcher, sectorIdentifierURI string, redirectURIs []string) error {
	// Registration §2: "The URL MUST use the https scheme", whatever the
	// fetcher would allow in development.
	u, err := url.Parse(sectorIdentifierURI)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return fmt.Errorf("%w: %q must be an https URL", ErrSectorURI, sectorIdentifierURI)
	}
	var listed []string
	if err := f.GetJSON(ctx, sectorIdentifierURI, &listed); err != nil {
		return fmt.Errorf("%w: %w", ErrSectorURI, err)
	}
	in := make(map[string]bool, len(listed))
	for _, l := range listed {
		in[l] = true
	}
	var missing []string
	for _, r := range redirectURIs {
		if !in[r] {
			missing = append(missing, fmt.Sprintf("%q", r))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not in %s", ErrSectorMismatch, strings.Join(missing, ", "), sectorIdentifierURI)
	}
	return nil
}

// Labels that keep the two kinds of subject apart: a pairwise and a public
// value never come from the same MAC input.
const (
	pairwiseLabel = "eidp pairwise v1"
	publicLabel   = "eidp public v1"
	sidLabel      = "eidp sid v1"
)

// subjectLen is the length of a subject: 32 MAC bytes in unpadded base64url.
var subjectLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// Pairwise computes subject identifiers from a secret. It is safe for
// concurrent use.
type Pairwise struct {
	secret []byte
	// states reuses keyed HMAC states and buffers: keying costs two SHA-256
	// blocks, and Subject runs on every ID token and userinfo response.
	states sync.Pool
}

type macState struct {
	mac hash.Hash
	msg []byte
	sum [sha256.Size]byte
	out []byte
}

// NewPairwise returns a Pairwise keyed with a copy of secret, which must have
// at least MinSecretLen bytes and must be the same on every node and for
// ever (see the package documentation).
func NewPairwise(secret []byte) (*Pairwise, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrShortSecret, len(secret), MinSecretLen)
	}
	p := &Pairwise{secret: append([]byte(nil), secret...)}
	p.states.New = func() any {
		return &macState{mac: hmac.New(sha256.New, p.secret), out: make([]byte, subjectLen)}
	}
	return p, nil
}

// Subject returns the pairwise subject of a resident for a sector (OIDC
// Core 1.0 §8.1): the same for every client of the sector, on every node and
// after every restart; unrelated across sectors. sector must be the value
// SectorIdentifier returned: Subject panics on an empty sector, which would
// give every client without a sector the same, linkable, subjects.
func (p *Pairwise) Subject(sector, residentID string) string {
	if sector == "" {
		panic("subject: pairwise subject requested without a sector")
	}
	return p.derive(pairwiseLabel, sector, residentID)
}

// Public returns the public subject of a resident (OIDC Core 1.0 §8), for
// clients an operator marked public: the same for every such client, stable,
// and not the internal resident ID nor reversible to it (DESIGN.md: the
// internal ID is never shown to relying parties). It is never equal to a
// pairwise subject: the MAC input carries another label.
func (p *Pairwise) Public(residentID string) string {
	return p.derive(publicLabel, residentID)
}

// SessionID returns the "sid" a client sees for a login session (OIDC
// Front-/Back-Channel Logout): stable for that client and session, and
// unrelated between two clients, so that relying parties cannot link a
// resident's visits through a shared session identifier.
func (p *Pairwise) SessionID(clientID, sessionID string) string {
	return p.derive(sidLabel, clientID, sessionID)
}

// derive returns base64url(HMAC-SHA256(secret, label || 0x00 || for each
// field: len32(field) || field)).
func (p *Pairwise) derive(label string, fields ...string) string {
	s := p.states.Get().(*macState)
	defer p.states.Put(s)
	msg := append(s.msg[:0], label...)
	msg = append(msg, 0)
	for _, f := range fields {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(f)))
		msg = append(msg, f...)
	}
	s.msg = msg
	s.mac.Reset()
	s.mac.Write(msg)
	base64.RawURLEncoding.Encode(s.out, s.mac.Sum(s.sum[:0]))
	return string(s.out)
}
