package keyring

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"eidp/hsm"
	"eidp/internal/db"
)

// Role is what a key is used for.
type Role string

// The key roles of DESIGN.md ("Keys"). Residents' signing keys are per
// resident and are not kept here: they are stored wrapped under the
// SigningKEK key (see hsm.KeyWrapper).
const (
	OIDCSigning Role = "oidc-signing"
	// OIDCSigningRSA signs ID tokens for the relying parties that ask for
	// RS256 or PS256 (id_token_signed_response_alg); ES256 with
	// OIDCSigning is the default.
	OIDCSigningRSA Role = "oidc-signing-rsa"
	VaultKEK       Role = "vault-kek"
	// SigningKEK wraps residents' signing keys (hsm.KeyWrapper): they are
	// generated in the backend and leave it only wrapped under this
	// AES-256 key, so the token holds one key instead of one per resident.
	// Destroying it crypto-shreds every resident key it wrapped.
	SigningKEK  Role = "signing-kek"
	CARoot      Role = "ca-root"
	CAResidents Role = "ca-residents"
	TSA         Role = "tsa"
	OCSP        Role = "ocsp"
)

// roles maps each role to its default algorithm.
var roles = map[Role]hsm.Algorithm{
	OIDCSigning:    hsm.ECP256,
	OIDCSigningRSA: hsm.RSA2048,
	VaultKEK:       hsm.AES256,
	SigningKEK:     hsm.AES256,
	CARoot:         hsm.ECP384,
	CAResidents:    hsm.ECP384,
	TSA:            hsm.ECP256,
	OCSP:           hsm.ECP256,
}

// Roles lists the known roles in a stable order.
func Roles() []Role {
	return []Role{OIDCSigning, OIDCSigningRSA, VaultKEK, SigningKEK, CARoot, CAResidents, TSA, OCSP}
}

// ParseRole accepts a role name.
func ParseRole(s string) (Role, error) {
	if _, ok := roles[Role(s)]; ok {
		return Role(s), nil
	}
	return "", fmt.Errorf("%w: %q (known: oidc-signing, oidc-signing-rsa, vault-kek, signing-kek, ca-root, ca-residents, tsa, ocsp)", ErrUnknownRole, s)
}

// DefaultAlgorithm is the algorithm a role's keys get unless told otherwise.
func (r Role) DefaultAlgorithm() hsm.Algorithm { return roles[r] }

// State is where a key is in its lifecycle.
type State string

// Key states. A key moves only forward: next → active → retiring → retired
// (a key created without publication ahead starts active).
const (
	// Next keys are published (JWKS) but do not sign yet: relying parties
	// fetch them before the first token they sign appears.
	Next State = "next"
	// Active keys sign (or encrypt); at most one per role.
	Active State = "active"
	// Retiring keys no longer sign but still verify (JWKS keeps publishing
	// them) or decrypt, until retire_at if one is set.
	Retiring State = "retiring"
	// Retired keys are neither used nor published. Their backend key is kept:
	// destroying it is an operator's decision, never automatic.
	Retired State = "retired"
)

// Errors.
var (
	ErrUnknownRole  = errors.New("keyring: unknown role")
	ErrNoActiveKey  = errors.New("keyring: no active key for role")
	ErrActiveExists = errors.New("keyring: role already has an active key")
	ErrWrongUsage   = errors.New("keyring: algorithm does not fit the role")
	// ErrRotationPending means the role already has a next key waiting for
	// its activation time: wait for it, or rotate immediately (RotateNow).
	ErrRotationPending = errors.New("keyring: a rotation is already pending for role")
)

// Key is one backend key registered for a role.
type Key struct {
	ID          string // key ID, used as the JOSE "kid"
	Role        Role
	Algorithm   hsm.Algorithm
	URI         string
	State       State
	CreatedAt   time.Time
	ActivatedAt time.Time // when it became active; zero if never active
	RetiredAt   time.Time // when it became retired; zero unless retired
	// ActivateAt is when a next key starts signing; zero if none was scheduled.
	ActivateAt time.Time
	// RetireAt is when a retiring key (or an active one already being
	// replaced) stops being published and used; zero if it stays retiring
	// until an operator decides.
	RetireAt time.Time
}

// Published reports whether relying parties may see the key: next, active
// and retiring keys are published, retired ones are not.
func (k Key) Published() bool { return k.State == Next || k.State == Active || k.State == Retiring }

// Policy sets the publication timing of a role's rotations.
type Policy struct {
	// PublishAhead is how long a rotated-in key is published before it
	// signs. It must outlast relying parties' JWKS caches (plus the
	// refresh interval of our own nodes), so that no token arrives signed by
	// a key a verifier has not fetched yet. 0: the new key is active at once.
	PublishAhead time.Duration
	// RetainAfter is how long the replaced key stays retiring (published,
	// verifying, not signing) after the new key becomes active: at least the
	// longest lifetime of anything it signed. 0: it stays retiring until an
	// operator retires it.
	RetainAfter time.Duration
}

// Default publication timing of oidc-signing.
const (
	// DefaultPublishAhead leaves relying parties an hour to refresh their
	// JWKS caches, which commonly keep keys for minutes up to an hour.
	DefaultPublishAhead = time.Hour
	// DefaultRetainAfter is the longest token lifetime the OP issues
	// (refreshable ID and access tokens are shorter; logout tokens too).
	DefaultRetainAfter = 24 * time.Hour
)

// DefaultPolicy is a role's publication timing unless told otherwise.
//
// Only oidc-signing is published (JWKS), so only it waits before signing
// (DefaultPublishAhead) and retires its old key automatically
// (DefaultRetainAfter). The other roles' keys are not fetched by anyone
// ahead of use, so a rotation activates the new key at once, and the old one
// stays retiring until an operator acts: a vault KEK must keep unwrapping
// until every data key is rewrapped, a signing KEK as long as resident keys
// it wrapped are in use, and CA, TSA and OCSP keys verify what
// they signed for years.
func DefaultPolicy(role Role) Policy {
	if role == OIDCSigning || role == OIDCSigningRSA {
		return Policy{PublishAhead: DefaultPublishAhead, RetainAfter: DefaultRetainAfter}
	}
	return Policy{}
}

// Keyring is the role registry over a database and a key backend.
type Keyring struct {
	db       *db.DB
	km       hsm.KeyManager
	now      func() time.Time
	policies map[Role]Policy
}

// Option configures a Keyring.
type Option func(*Keyring)

// WithPolicy sets the publication timing of role's rotations (default:
// DefaultPolicy). Negative durations count as 0.
func WithPolicy(role Role, p Policy) Option {
	return func(k *Keyring) {
		k.policies[role] = Policy{PublishAhead: max(p.PublishAhead, 0), RetainAfter: max(p.RetainAfter, 0)}
	}
}

// WithClock sets the time source (default time.Now), for tests.
func WithClock(now func() time.Time) Option {
	return func(k *Keyring) { k.now = now }
}

// New returns a Keyring.
func New(d *db.DB, km hsm.KeyManager, opts ...Option) *Keyring {
	k := &Keyring{db: d, km: km, now: time.Now, policies: map[Role]Policy{}}
	for _, r := range Roles() {
		k.policies[r] = DefaultPolicy(r)
	}
	for _, o := range opts {
		o(k)
	}
	return k
}

// Policy returns the publication timing of role's rotations.
func (k *Keyring) Policy(role Role) Policy { return k.policies[role] }

// Now is the keyring's current time.
func (k *Keyring) Now() time.Time { return k.now().UTC() }

func checkAlgorithm(role Role, alg hsm.Algorithm) error {
	def, ok := roles[role]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownRole, role)
	}
	if alg.Symmetric() != def.Symmetric() {
		what := "a signing algorithm"
		if def.Symmetric() {
			what = "AES-256"
		}
		return fmt.Errorf("%w: role %s needs %s, not %s", ErrWrongUsage, role, what, alg)
	}
	return nil
}

// addMode is how add records the new key.
type addMode int

const (
	addFirst     addMode = iota // Create: active, fails if one exists
	addScheduled                // Rotate: next (or active at once, by policy)
	addNow                      // RotateNow: active at once
)

// Create makes the first active key of a role. If the role already has an
// active key it returns ErrActiveExists: use Rotate.
func (k *Keyring) Create(ctx context.Context, role Role, alg hsm.Algorithm) (Key, error) {
	return k.add(ctx, role, alg, addFirst)
}

// Rotate makes a new key for the role following its Policy.
//
// With PublishAhead > 0 (oidc-signing by default) the new key is recorded
// as next, published but not signing, until ActivateAt = now + PublishAhead;
// the active key keeps signing until then and gets RetireAt = ActivateAt +
// RetainAfter. Advance makes the switch once ActivateAt has passed. If the
// role already has a next key, Rotate returns ErrRotationPending.
//
// With PublishAhead = 0, or when the role has no active key yet, the new key
// is active at once and the previous active key, if any, becomes retiring
// (RetireAt = now + RetainAfter, none if RetainAfter is 0).
func (k *Keyring) Rotate(ctx context.Context, role Role, alg hsm.Algorithm) (Key, error) {
	return k.add(ctx, role, alg, addScheduled)
}

// RotateNow is the emergency rotation, for a key that must stop signing
// now (suspected compromise): the new key is active at once, the previous
// active key becomes retiring and stays published for RetainAfter, so the
// tokens it signed still verify until they expire. A pending next key,
// which never signed anything, is retired.
func (k *Keyring) RotateNow(ctx context.Context, role Role, alg hsm.Algorithm) (Key, error) {
	return k.add(ctx, role, alg, addNow)
}

// Ensure returns the role's active key, creating one with the role's default
// algorithm if there is none (first start). It is safe when several nodes
// start at once: one creation wins and the others use its key.
func (k *Keyring) Ensure(ctx context.Context, role Role) (key Key, created bool, err error) {
	if _, err := k.Advance(ctx, role); err != nil {
		return Key{}, false, err
	}
	key, err = k.Active(ctx, role)
	if err == nil || !errors.Is(err, ErrNoActiveKey) {
		return key, false, err
	}
	key, err = k.Create(ctx, role, role.DefaultAlgorithm())
	if errors.Is(err, ErrActiveExists) {
		key, err = k.Active(ctx, role)
		return key, false, err
	}
	return key, err == nil, err
}

func (k *Keyring) add(ctx context.Context, role Role, alg hsm.Algorithm, mode addMode) (Key, error) {
	if err := checkAlgorithm(role, alg); err != nil {
		return Key{}, err
	}
	id, err := newKeyID()
	if err != nil {
		return Key{}, err
	}
	now := k.Now()
	policy := k.Policy(role)
	// The backend key is made outside the transaction: HSM key generation
	// can take hundreds of milliseconds and must not hold a database lock.
	info, err := k.km.CreateKey(ctx, fmt.Sprintf("%s-%s-%s", role, now.Format("20060102T150405Z"), id[:6]), alg)
	if err != nil {
		return Key{}, fmt.Errorf("keyring: create %s key for %s: %w", alg, role, err)
	}
	var key Key
	err = k.db.InTx(ctx, func(tx *sql.Tx) error {
		// Reset: InTx may run this more than once.
		key = Key{ID: id, Role: role, Algorithm: alg, URI: info.URI, CreatedAt: now}
		if mode == addFirst {
			key.State, key.ActivatedAt = Active, now
			return insertKey(ctx, tx, key)
		}
		var current string
		err := tx.QueryRowContext(ctx, `SELECT id FROM hsm_keys WHERE role = $1 AND state = 'active'`, string(role)).Scan(&current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Nothing signs yet: nobody can hold a token to verify.
			key.State, key.ActivatedAt = Active, now
			return insertKey(ctx, tx, key)
		case err != nil:
			return err
		}
		if mode == addScheduled && policy.PublishAhead > 0 {
			key.State, key.ActivateAt = Next, now.Add(policy.PublishAhead)
			if err := insertKey(ctx, tx, key); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE hsm_keys SET retire_at = $1 WHERE id = $2`,
				retireAt(key.ActivateAt, policy), current)
			return err
		}
		// Immediate: a pending next key never signed, so nothing needs it.
		if _, err := tx.ExecContext(ctx,
			`UPDATE hsm_keys SET state = 'retired', retired_at = $1 WHERE role = $2 AND state = 'next'`,
			now.UnixMicro(), string(role)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE hsm_keys SET state = 'retiring', retire_at = $1 WHERE id = $2`,
			retireAt(now, policy), current); err != nil {
			return err
		}
		key.State, key.ActivatedAt = Active, now
		return insertKey(ctx, tx, key)
	})
	if err != nil {
		// Nothing refers to the new backend key: remove it so the token does
		// not fill with orphans.
		if derr := k.km.Destroy(context.WithoutCancel(ctx), info.URI); derr != nil {
			err = errors.Join(err, fmt.Errorf("keyring: also failed to remove the unused backend key %s: %w", info.URI, derr))
		}
		if db.IsUniqueViolation(err) {
			if key.State == Next {
				return Key{}, fmt.Errorf("%w %s (it starts signing by itself; use an immediate rotation to replace the active key now)", ErrRotationPending, role)
			}
			return Key{}, fmt.Errorf("%w: %s (use rotate)", ErrActiveExists, role)
		}
		return Key{}, fmt.Errorf("keyring: record %s key: %w", role, err)
	}
	return key, nil
}

// retireAt is when a key replaced at activation stops being published: NULL
// when the policy keeps it until an operator acts.
func retireAt(activation time.Time, p Policy) sql.NullInt64 {
	if p.RetainAfter <= 0 {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: activation.Add(p.RetainAfter).UnixMicro(), Valid: true}
}

func insertKey(ctx context.Context, tx *sql.Tx, key Key) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at, activated_at, activate_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		key.ID, string(key.Role), string(key.Algorithm), key.URI, string(key.State), key.CreatedAt.UnixMicro(),
		nullTime(key.ActivatedAt), nullTime(key.ActivateAt))
	return err
}

func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// Advance makes the role's scheduled transitions whose time has come: a
// next key whose ActivateAt has passed becomes active (and the active key it
// replaces retiring), and retiring keys whose RetireAt has passed become
// retired. It reports whether it changed anything.
//
// Readers (Ensure, Signer, idp/jwks) call it lazily and a periodic job
// should too, so transitions happen without anyone watching the clock. It is
// idempotent and safe when several nodes call it at once: the changes are
// made in one serializable transaction, re-checked inside it, and the
// database keeps one active key per role whatever happens. When nothing is
// due it costs one read and takes no write lock.
func (k *Keyring) Advance(ctx context.Context, role Role) (bool, error) {
	now := k.Now().UnixMicro()
	const due = `SELECT COUNT(*) FROM hsm_keys WHERE role = $1 AND (
		(state = 'next' AND activate_at <= $2) OR (state = 'retiring' AND retire_at <= $2))`
	var n int
	if err := k.db.QueryRowContext(ctx, due, string(role), now).Scan(&n); err != nil {
		return false, fmt.Errorf("keyring: advance %s: %w", role, err)
	}
	if n == 0 {
		return false, nil
	}
	var changed bool
	err := k.db.InTx(ctx, func(tx *sql.Tx) error {
		changed = false
		var (
			next       string
			activateAt int64
		)
		err := tx.QueryRowContext(ctx,
			`SELECT id, activate_at FROM hsm_keys WHERE role = $1 AND state = 'next' AND activate_at <= $2`,
			string(role), now).Scan(&next, &activateAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			// The old key signed until now, not only until activate_at:
			// push its retire_at back by the delay, so that what it signed
			// last stays verifiable for the whole RetainAfter.
			if _, err := tx.ExecContext(ctx,
				`UPDATE hsm_keys SET state = 'retiring', retire_at = retire_at + $1 WHERE role = $2 AND state = 'active'`,
				now-activateAt, string(role)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx,
				`UPDATE hsm_keys SET state = 'active', activated_at = $1 WHERE id = $2 AND state = 'next'`, now, next); err != nil {
				return err
			}
			changed = true
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE hsm_keys SET state = 'retired', retired_at = $1 WHERE role = $2 AND state = 'retiring' AND retire_at <= $1`,
			now, string(role))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			changed = true
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("keyring: advance %s: %w", role, err)
	}
	return changed, nil
}

// AdvanceAll is Advance for every role, for the periodic job.
func (k *Keyring) AdvanceAll(ctx context.Context) error {
	var errs []error
	for _, r := range Roles() {
		if _, err := k.Advance(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Active returns the role's active key.
func (k *Keyring) Active(ctx context.Context, role Role) (Key, error) {
	keys, err := k.query(ctx, `WHERE role = $1 AND state = 'active'`, string(role))
	if err != nil {
		return Key{}, err
	}
	if len(keys) == 0 {
		return Key{}, fmt.Errorf("%w %s", ErrNoActiveKey, role)
	}
	return keys[0], nil
}

// List returns the keys of one role, or of every role when role is "",
// newest first within a role.
func (k *Keyring) List(ctx context.Context, role Role) ([]Key, error) {
	if role == "" {
		return k.query(ctx, `ORDER BY role, created_at DESC, id`)
	}
	return k.query(ctx, `WHERE role = $1 ORDER BY created_at DESC, id`, string(role))
}

// Published returns the role's published keys (next, active and retiring),
// after making the transitions that are due (Advance), newest first.
func (k *Keyring) Published(ctx context.Context, role Role) ([]Key, error) {
	if _, err := k.Advance(ctx, role); err != nil {
		return nil, err
	}
	return k.query(ctx, `WHERE role = $1 AND state IN ('next', 'active', 'retiring') ORDER BY created_at DESC, id`, string(role))
}

// Signer returns a signer for the role's active key, after making the
// transitions that are due (Advance).
func (k *Keyring) Signer(ctx context.Context, role Role) (Key, hsm.Signer, error) {
	if _, err := k.Advance(ctx, role); err != nil {
		return Key{}, nil, err
	}
	key, err := k.Active(ctx, role)
	if err != nil {
		return Key{}, nil, err
	}
	s, err := k.km.Signer(ctx, key.URI)
	if err != nil {
		return Key{}, nil, fmt.Errorf("keyring: %s key %s: %w", role, key.ID, err)
	}
	return key, s, nil
}

func (k *Keyring) query(ctx context.Context, where string, args ...any) ([]Key, error) {
	rows, err := k.db.QueryContext(ctx,
		`SELECT id, role, algorithm, uri, state, created_at, activated_at, retired_at, activate_at, retire_at FROM hsm_keys `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("keyring: list keys: %w", err)
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		var (
			key                  Key
			role, alg, state     string
			created              int64
			activated, retiredAt sql.NullInt64
			activateAt, retireAt sql.NullInt64
		)
		if err := rows.Scan(&key.ID, &role, &alg, &key.URI, &state, &created, &activated, &retiredAt, &activateAt, &retireAt); err != nil {
			return nil, fmt.Errorf("keyring: read key: %w", err)
		}
		key.Role, key.Algorithm, key.State = Role(role), hsm.Algorithm(alg), State(state)
		key.CreatedAt = time.UnixMicro(created).UTC()
		if activated.Valid {
			key.ActivatedAt = time.UnixMicro(activated.Int64).UTC()
		}
		if retiredAt.Valid {
			key.RetiredAt = time.UnixMicro(retiredAt.Int64).UTC()
		}
		if activateAt.Valid {
			key.ActivateAt = time.UnixMicro(activateAt.Int64).UTC()
		}
		if retireAt.Valid {
			key.RetireAt = time.UnixMicro(retireAt.Int64).UTC()
		}
		keys = append(keys, key)
	}
	return keys, rows.Err()
}

func newKeyID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
