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
// resident and are not kept here.
const (
	OIDCSigning Role = "oidc-signing"
	VaultKEK    Role = "vault-kek"
	CARoot      Role = "ca-root"
	CAResidents Role = "ca-residents"
	TSA         Role = "tsa"
	OCSP        Role = "ocsp"
)

// roles maps each role to its default algorithm.
var roles = map[Role]hsm.Algorithm{
	OIDCSigning: hsm.ECP256,
	VaultKEK:    hsm.AES256,
	CARoot:      hsm.ECP384,
	CAResidents: hsm.ECP384,
	TSA:         hsm.ECP256,
	OCSP:        hsm.ECP256,
}

// Roles lists the known roles in a stable order.
func Roles() []Role {
	return []Role{OIDCSigning, VaultKEK, CARoot, CAResidents, TSA, OCSP}
}

// ParseRole accepts a role name.
func ParseRole(s string) (Role, error) {
	if _, ok := roles[Role(s)]; ok {
		return Role(s), nil
	}
	return "", fmt.Errorf("%w: %q (known: oidc-signing, vault-kek, ca-root, ca-residents, tsa, ocsp)", ErrUnknownRole, s)
}

// DefaultAlgorithm is the algorithm a role's keys get unless told otherwise.
func (r Role) DefaultAlgorithm() hsm.Algorithm { return roles[r] }

// State is where a key is in its lifecycle.
type State string

// Key states.
const (
	Active   State = "active"
	Retiring State = "retiring"
	Retired  State = "retired"
)

// Errors.
var (
	ErrUnknownRole  = errors.New("keyring: unknown role")
	ErrNoActiveKey  = errors.New("keyring: no active key for role")
	ErrActiveExists = errors.New("keyring: role already has an active key")
	ErrWrongUsage   = errors.New("keyring: algorithm does not fit the role")
)

// Key is one backend key registered for a role.
type Key struct {
	ID          string // key ID, used as the JOSE "kid"
	Role        Role
	Algorithm   hsm.Algorithm
	URI         string
	State       State
	CreatedAt   time.Time
	ActivatedAt time.Time // zero if never active
	RetiredAt   time.Time // zero unless retired
}

// Keyring is the role registry over a database and a key backend.
type Keyring struct {
	db  *db.DB
	km  hsm.KeyManager
	now func() time.Time
}

// New returns a Keyring.
func New(d *db.DB, km hsm.KeyManager) *Keyring {
	return &Keyring{db: d, km: km, now: time.Now}
}

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

// Create makes the first active key of a role. If the role already has an
// active key it returns ErrActiveExists: use Rotate.
func (k *Keyring) Create(ctx context.Context, role Role, alg hsm.Algorithm) (Key, error) {
	return k.add(ctx, role, alg, false)
}

// Rotate makes a new active key for the role; the previous active key, if
// any, becomes retiring (still published for verification, no longer used).
func (k *Keyring) Rotate(ctx context.Context, role Role, alg hsm.Algorithm) (Key, error) {
	return k.add(ctx, role, alg, true)
}

// Ensure returns the role's active key, creating one with the role's default
// algorithm if there is none (first start). It is safe when several nodes
// start at once: one creation wins and the others use its key.
func (k *Keyring) Ensure(ctx context.Context, role Role) (key Key, created bool, err error) {
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

func (k *Keyring) add(ctx context.Context, role Role, alg hsm.Algorithm, rotate bool) (Key, error) {
	if err := checkAlgorithm(role, alg); err != nil {
		return Key{}, err
	}
	id, err := newKeyID()
	if err != nil {
		return Key{}, err
	}
	now := k.now().UTC()
	// The backend key is made outside the transaction: HSM key generation
	// can take hundreds of milliseconds and must not hold a database lock.
	info, err := k.km.CreateKey(ctx, fmt.Sprintf("%s-%s-%s", role, now.Format("20060102T150405Z"), id[:6]), alg)
	if err != nil {
		return Key{}, fmt.Errorf("keyring: create %s key for %s: %w", alg, role, err)
	}
	key := Key{ID: id, Role: role, Algorithm: alg, URI: info.URI, State: Active, CreatedAt: now, ActivatedAt: now}
	err = k.db.InTx(ctx, func(tx *sql.Tx) error {
		if rotate {
			if _, err := tx.ExecContext(ctx,
				`UPDATE hsm_keys SET state = 'retiring' WHERE role = $1 AND state = 'active'`, string(role)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at, activated_at) VALUES ($1, $2, $3, $4, 'active', $5, $6)`,
			key.ID, string(role), string(alg), key.URI, now.UnixMicro(), now.UnixMicro())
		return err
	})
	if err != nil {
		// Nothing refers to the new backend key: remove it so the token does
		// not fill with orphans.
		if derr := k.km.Destroy(context.WithoutCancel(ctx), info.URI); derr != nil {
			err = errors.Join(err, fmt.Errorf("keyring: also failed to remove the unused backend key %s: %w", info.URI, derr))
		}
		if db.IsUniqueViolation(err) {
			return Key{}, fmt.Errorf("%w: %s (use rotate)", ErrActiveExists, role)
		}
		return Key{}, fmt.Errorf("keyring: record %s key: %w", role, err)
	}
	return key, nil
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

// Signer returns a signer for the role's active key.
func (k *Keyring) Signer(ctx context.Context, role Role) (Key, hsm.Signer, error) {
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
		`SELECT id, role, algorithm, uri, state, created_at, activated_at, retired_at FROM hsm_keys `+where, args...)
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
		)
		if err := rows.Scan(&key.ID, &role, &alg, &key.URI, &state, &created, &activated, &retiredAt); err != nil {
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
