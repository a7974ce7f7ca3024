package activation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/asn1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"eidp/internal/db"
	"eidp/internal/secret"
)

// Errors at the package boundary; match them with errors.Is.
var (
	ErrInvalid  = errors.New("activation: invalid signing request")
	ErrNotFound = errors.New("activation: no such signing request")
	ErrExpired  = errors.New("activation: signing request or activation expired")
	ErrPending  = errors.New("activation: the resident has not approved the request yet")
	ErrDenied   = errors.New("activation: the resident declined the request")
	ErrUsed     = errors.New("activation: signature activation data already used")
	ErrMismatch = errors.New("activation: not what the resident approved")
	ErrAnswered = errors.New("activation: request already answered")
)

// Routes by which a request was made.
const (
	RouteExplicit = "explicit" // CSC credentials/authorize
	RouteOAuth    = "oauth"    // authorization endpoint, scope=credential
)

// States of a request.
const (
	StatePending  = "pending"
	StateApproved = "approved"
	StateDenied   = "denied"
	StateUsed     = "used"
)

// Limits on a request.
const (
	MaxDocuments      = 32
	MaxLabelLen       = 200
	MaxDescriptionLen = 500
	challengeTag      = "eidp-signature-activation-v1"
	codeTag           = "eidp-verification-code-v1"
	nonceBytes        = 32
	sadBytes          = 32
)

// Hash algorithm OIDs (RFC 5754 / NIST).
var hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

// HashOID is the dotted OID of a supported digest algorithm ("" if not).
func HashOID(h crypto.Hash) string {
	if oid, ok := hashOIDs[h]; ok {
		return oid.String()
	}
	return ""
}

// ParseHashOID returns the digest algorithm of a dotted OID: SHA-256,
// SHA-384 or SHA-512.
func ParseHashOID(s string) (crypto.Hash, error) {
	for h, oid := range hashOIDs {
		if oid.String() == s {
			return h, nil
		}
	}
	return 0, fmt.Errorf("%w: hash algorithm %q is not SHA-256, SHA-384 or SHA-512 (2.16.840.1.101.3.4.2.1/2/3)", ErrInvalid, s)
}

// Document is one document to sign: its label, shown to the resident, and
// its digest.
type Document struct {
	Label string `json:"label"`
	Hash  []byte `json:"hash"`
}

// Request is a signing request.
type Request struct {
	ID           string
	Route        string
	ClientID     string
	ClientName   string // the service's name as shown to the resident
	ClientNameZh string // its Traditional Chinese name ("" if none)
	ResidentID   string
	CredentialID string // the resident certificate (signing/ca ID)
	Hash         crypto.Hash
	Documents    []Document
	Description  string
	Nonce        []byte
	State        string
	Evidence     json.RawMessage // the approving assertion, once approved
	GrantID      string          // OAuth route: the grant whose token is the SAD
	CreatedAt    time.Time
	ExpiresAt    time.Time // approval deadline
	AnsweredAt   time.Time
	SADExpiresAt time.Time
}

// Code is the request's verification code (VerificationCode).
func (r Request) Code() string { return VerificationCode(r.Hash, r.Documents) }

// Name is the service's name in lang ("zh-Hant" or "en").
func (r Request) Name(lang string) string {
	if lang == "zh-Hant" && r.ClientNameZh != "" {
		return r.ClientNameZh
	}
	return r.ClientName
}

// Challenge is the passkey challenge that commits to the request (see the
// package documentation).
func Challenge(r Request) []byte {
	h := sha256.New()
	h.Write([]byte(challengeTag))
	field := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(r.CredentialID))
	field([]byte(HashOID(r.Hash)))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(r.Documents)))
	h.Write(n[:])
	for _, d := range r.Documents {
		field(d.Hash)
	}
	field(r.Nonce)
	return h.Sum(nil)
}

// VerificationCode is six digits, grouped 3+3, derived from the hash
// algorithm and the digests in order:
// SHA-256("eidp-verification-code-v1" || OID || digests) read as a
// big-endian integer, modulo 10^6. A service computes it from what it sends.
func VerificationCode(h crypto.Hash, docs []Document) string {
	s := sha256.New()
	s.Write([]byte(codeTag))
	s.Write([]byte(HashOID(h)))
	for _, d := range docs {
		s.Write(d.Hash)
	}
	sum := s.Sum(nil)
	n := binary.BigEndian.Uint64(sum[:8]) % 1_000_000
	return fmt.Sprintf("%03d %03d", n/1000, n%1000)
}

// Store keeps signing requests and records in the database.
type Store struct {
	db         *db.DB
	now        func() time.Time
	requestTTL time.Duration
	sadTTL     time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithTTL sets how long a request waits for approval (default 10 minutes)
// and how long activation data lives after approval (default 5 minutes).
func WithTTL(request, sad time.Duration) Option {
	return func(s *Store) {
		if request > 0 {
			s.requestTTL = request
		}
		if sad > 0 {
			s.sadTTL = sad
		}
	}
}

// New returns a Store on d.
func New(d *db.DB, opts ...Option) *Store {
	s := &Store{db: d, now: time.Now, requestTTL: 10 * time.Minute, sadTTL: 5 * time.Minute}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SADLifetime is how long activation data lives after approval.
func (s *Store) SADLifetime() time.Duration { return s.sadTTL }

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Validate checks what a service may ask for: a supported hash algorithm,
// 1 to MaxDocuments documents whose digests have that algorithm's length,
// labels of 1 to 200 printable characters, a description of at most 500.
func Validate(r Request) error {
	if HashOID(r.Hash) == "" {
		return fmt.Errorf("%w: unsupported hash algorithm", ErrInvalid)
	}
	if len(r.Documents) == 0 || len(r.Documents) > MaxDocuments {
		return fmt.Errorf("%w: 1 to %d documents per request", ErrInvalid, MaxDocuments)
	}
	seen := map[string]bool{}
	for i, d := range r.Documents {
		if len(d.Hash) != r.Hash.Size() {
			return fmt.Errorf("%w: digest %d is %d bytes; %s digests are %d", ErrInvalid, i+1, len(d.Hash), r.Hash, r.Hash.Size())
		}
		if seen[string(d.Hash)] {
			return fmt.Errorf("%w: digest %d is listed twice", ErrInvalid, i+1)
		}
		seen[string(d.Hash)] = true
		if err := checkText(d.Label, 1, MaxLabelLen); err != nil {
			return fmt.Errorf("%w: label of document %d: %v", ErrInvalid, i+1, err)
		}
	}
	if err := checkText(r.Description, 0, MaxDescriptionLen); err != nil {
		return fmt.Errorf("%w: description: %v", ErrInvalid, err)
	}
	if r.CredentialID == "" || len(r.CredentialID) > 128 {
		return fmt.Errorf("%w: credentialID missing or too long", ErrInvalid)
	}
	return nil
}

func checkText(s string, minLen, maxLen int) error {
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	n := utf8.RuneCountInString(s)
	if n < minLen || n > maxLen {
		return fmt.Errorf("must be %d to %d characters", minLen, maxLen)
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return errors.New("control characters are not allowed")
	}
	return nil
}

// Create stores a new pending request (r.ID, Nonce, State and times are
// set here) after Validate. On the explicit route it also returns the SAD,
// inactive until the resident approves; on the OAuth route sad is "".
func (s *Store) Create(ctx context.Context, r Request) (_ Request, sad string, err error) {
	if err := Validate(r); err != nil {
		return Request{}, "", err
	}
	if r.Route != RouteExplicit && r.Route != RouteOAuth {
		return Request{}, "", fmt.Errorf("%w: unknown route %q", ErrInvalid, r.Route)
	}
	r.ID = secret.Random(16)
	r.Nonce = make([]byte, nonceBytes)
	if _, err := rand.Read(r.Nonce); err != nil {
		return Request{}, "", err
	}
	r.State = StatePending
	r.CreatedAt = s.clock()
	r.ExpiresAt = r.CreatedAt.Add(s.requestTTL)
	r.Evidence, r.GrantID, r.AnsweredAt, r.SADExpiresAt = nil, "", time.Time{}, time.Time{}
	var sadHash sql.NullString
	if r.Route == RouteExplicit {
		sad = secret.Random(sadBytes)
		sadHash = sql.NullString{String: secret.Hash(sad), Valid: true}
	}
	docs, err := json.Marshal(r.Documents)
	if err != nil {
		return Request{}, "", err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO signing_requests
		(id, route, client_id, client_name, client_name_zh, resident_id, credential_id, hash_alg, documents,
		 num_signatures, description, code, nonce, state, sad_hash, signatures_left, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $10, $16, $17)`,
		r.ID, r.Route, r.ClientID, r.ClientName, r.ClientNameZh, r.ResidentID, r.CredentialID, HashOID(r.Hash), string(docs),
		len(r.Documents), r.Description, r.Code(), r.Nonce, r.State, sadHash,
		db.Timestamp{Time: r.CreatedAt}, db.Timestamp{Time: r.ExpiresAt})
	if err != nil {
		return Request{}, "", fmt.Errorf("activation: create: %w", err)
	}
	return r, sad, nil
}

const columns = `id, route, client_id, client_name, client_name_zh, resident_id, credential_id, hash_alg, documents,
	description, nonce, state, evidence, grant_id, created_at, expires_at, answered_at, sad_expires_at`

func scan(row interface{ Scan(...any) error }) (Request, error) {
	var (
		r                  Request
		alg, docs          string
		evidence, grantID  sql.NullString
		created, expires   db.Timestamp
		answered, sadUntil sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.Route, &r.ClientID, &r.ClientName, &r.ClientNameZh, &r.ResidentID, &r.CredentialID, &alg, &docs,
		&r.Description, &r.Nonce, &r.State, &evidence, &grantID, &created, &expires, &answered, &sadUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, ErrNotFound
	}
	if err != nil {
		return Request{}, fmt.Errorf("activation: read request: %w", err)
	}
	if r.Hash, err = ParseHashOID(alg); err != nil {
		return Request{}, err
	}
	if err := json.Unmarshal([]byte(docs), &r.Documents); err != nil {
		return Request{}, fmt.Errorf("activation: stored documents: %w", err)
	}
	if evidence.Valid {
		r.Evidence = json.RawMessage(evidence.String)
	}
	r.GrantID = grantID.String
	r.CreatedAt, r.ExpiresAt = created.Time, expires.Time
	if answered.Valid {
		r.AnsweredAt = time.UnixMicro(answered.Int64).UTC()
	}
	if sadUntil.Valid {
		r.SADExpiresAt = time.UnixMicro(sadUntil.Int64).UTC()
	}
	return r, nil
}

// Get returns a request by ID.
func (s *Store) Get(ctx context.Context, id string) (Request, error) {
	if id == "" || len(id) > 64 {
		return Request{}, ErrNotFound
	}
	return scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM signing_requests WHERE id = $1`, id))
}

// Pending lists the resident's requests still waiting for an answer,
// newest first.
func (s *Store) Pending(ctx context.Context, residentID string) ([]Request, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM signing_requests
		WHERE resident_id = $1 AND state = 'pending' AND expires_at > $2 ORDER BY created_at DESC LIMIT 50`,
		residentID, db.Timestamp{Time: s.clock()})
	if err != nil {
		return nil, fmt.Errorf("activation: pending: %w", err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// forResident loads a pending, unexpired request of residentID in tx.
func (s *Store) forResident(ctx context.Context, tx *sql.Tx, id, residentID string) (Request, error) {
	r, err := scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM signing_requests WHERE id = $1`+s.db.ForUpdate(), id))
	if err != nil {
		return Request{}, err
	}
	if r.ResidentID != residentID {
		return Request{}, ErrNotFound
	}
	if r.State != StatePending {
		return r, ErrAnswered
	}
	if !s.clock().Before(r.ExpiresAt) {
		return r, ErrExpired
	}
	return r, nil
}

// Approve records the resident's approval with the assertion that answered
// Challenge(r) as evidence (the caller verified it), and starts the
// activation data's lifetime.
func (s *Store) Approve(ctx context.Context, id, residentID string, evidence json.RawMessage) (Request, error) {
	var out Request
	err := s.db.InTxLocked(ctx, func(tx *sql.Tx) error {
		r, err := s.forResident(ctx, tx, id, residentID)
		if err != nil {
			return err
		}
		now := s.clock()
		r.State, r.AnsweredAt, r.SADExpiresAt, r.Evidence = StateApproved, now, now.Add(s.sadTTL), evidence
		_, err = tx.ExecContext(ctx, `UPDATE signing_requests SET state = $2, evidence = $3, answered_at = $4, sad_expires_at = $5 WHERE id = $1`,
			id, r.State, string(evidence), db.Timestamp{Time: now}, db.Timestamp{Time: r.SADExpiresAt})
		out = r
		return err
	})
	return out, err
}

// Deny records that the resident declined.
func (s *Store) Deny(ctx context.Context, id, residentID string) (Request, error) {
	var out Request
	err := s.db.InTxLocked(ctx, func(tx *sql.Tx) error {
		r, err := s.forResident(ctx, tx, id, residentID)
		if err != nil && !errors.Is(err, ErrExpired) {
			return err
		}
		now := s.clock()
		r.State, r.AnsweredAt = StateDenied, now
		_, err = tx.ExecContext(ctx, `UPDATE signing_requests SET state = $2, answered_at = $3 WHERE id = $1`, id, r.State, db.Timestamp{Time: now})
		out = r
		return err
	})
	return out, err
}

// BindGrant ties an approved OAuth-route request to the grant whose access
// token is its activation data.
func (s *Store) BindGrant(ctx context.Context, id, grantID string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE signing_requests SET grant_id = $2 WHERE id = $1 AND route = 'oauth' AND state = 'approved' AND grant_id IS NULL`, id, grantID)
	if err != nil {
		return fmt.Errorf("activation: bind grant: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: request %s is not an approved, unbound OAuth request", ErrNotFound, id)
	}
	return nil
}

// Use is what a signature call presents.
type Use struct {
	SAD          string // explicit route
	GrantID      string // OAuth route (from a verified access token)
	ClientID     string // the calling client: must be the request's
	CredentialID string
	Hash         crypto.Hash
	Hashes       [][]byte
}

// Activate consumes the activation data for one signature call: the
// request must be approved and not expired, for this client and credential
// and hash algorithm, and every presented hash one of the approved digests.
// Any mismatch fails without consuming; success marks it used, so a second
// call fails with ErrUsed. It returns the request and the documents signed.
func (s *Store) Activate(ctx context.Context, u Use) (Request, []Document, error) {
	var (
		where string
		key   string
	)
	switch {
	case u.SAD != "" && u.GrantID == "":
		where, key = "sad_hash = $1", secret.Hash(u.SAD)
	case u.GrantID != "" && u.SAD == "":
		where, key = "grant_id = $1", u.GrantID
	default:
		return Request{}, nil, fmt.Errorf("%w: exactly one of SAD and a credential-scoped access token", ErrInvalid)
	}
	if len(u.Hashes) == 0 {
		return Request{}, nil, fmt.Errorf("%w: no hashes", ErrInvalid)
	}
	var (
		out    Request
		signed []Document
	)
	err := s.db.InTxLocked(ctx, func(tx *sql.Tx) error {
		signed = nil
		r, err := scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM signing_requests WHERE `+where+s.db.ForUpdate(), key))
		if err != nil {
			return err
		}
		out = r
		switch r.State {
		case StatePending:
			if !s.clock().Before(r.ExpiresAt) {
				return ErrExpired
			}
			return ErrPending
		case StateDenied:
			return ErrDenied
		case StateUsed:
			return ErrUsed
		}
		if !s.clock().Before(r.SADExpiresAt) {
			return ErrExpired
		}
		if r.ClientID != u.ClientID {
			return ErrNotFound // another client's SAD: reveal nothing
		}
		if r.CredentialID != u.CredentialID {
			return fmt.Errorf("%w: the activation is for another credential", ErrMismatch)
		}
		if r.Hash != u.Hash {
			return fmt.Errorf("%w: the activation is for %s digests", ErrMismatch, r.Hash)
		}
		for i, h := range u.Hashes {
			doc, ok := find(r.Documents, h)
			if !ok {
				return fmt.Errorf("%w: hash %d is not one of the approved digests", ErrMismatch, i+1)
			}
			if contains(signed, h) {
				return fmt.Errorf("%w: hash %d is listed twice", ErrInvalid, i+1)
			}
			signed = append(signed, doc)
		}
		_, err = tx.ExecContext(ctx, `UPDATE signing_requests SET state = 'used', signatures_left = 0 WHERE id = $1`, r.ID)
		out.State = StateUsed
		return err
	})
	if err != nil {
		return out, nil, err
	}
	return out, signed, nil
}

func find(docs []Document, h []byte) (Document, bool) {
	for _, d := range docs {
		if bytes.Equal(d.Hash, h) {
			return d, true
		}
	}
	return Document{}, false
}

func contains(docs []Document, h []byte) bool {
	_, ok := find(docs, h)
	return ok
}

// sweepAfter is how long a request is kept after it can no longer be used:
// long enough for a resident to see a declined or expired request on the
// account page; the signatures made keep their own records.
const sweepAfter = 30 * 24 * time.Hour

// Sweep deletes requests that expired (unanswered, or approved and unused)
// or were answered more than 30 days ago, and returns how many.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	cutoff := db.Timestamp{Time: s.clock().Add(-sweepAfter)}
	res, err := s.db.ExecContext(ctx, `DELETE FROM signing_requests WHERE expires_at < $1 AND (sad_expires_at IS NULL OR sad_expires_at < $1)`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("activation: sweep: %w", err)
	}
	return res.RowsAffected()
}
