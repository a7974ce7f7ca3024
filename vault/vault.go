package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/internal/db"
)

// Errors. Each is wrapped with context (resident, attribute name, version —
// never a value or a key); compare with errors.Is.
var (
	ErrNotFound = errors.New("vault: no such attribute")
	ErrErased   = errors.New("vault: the resident's vault was erased")
	// ErrConflict: optimistic concurrency; read again and retry.
	ErrConflict = errors.New("vault: the attribute changed since it was read")
	ErrInvalid  = errors.New("vault: invalid input")
	// ErrDecrypt: a value or a data key did not authenticate: altered,
	// moved to another resident or attribute, or relabelled.
	ErrDecrypt = errors.New("vault: ciphertext does not authenticate")
)

// Defaults for zero Options fields.
const (
	DefaultCacheTTL  = 2 * time.Minute
	DefaultCacheSize = 10000
	// DefaultSchemaVersion is bound into new writes when Options.SchemaVersion is 0.
	DefaultSchemaVersion = 1
)

// Input limits.
const (
	maxResidentID = 128
	maxName       = 100
	maxSource     = 128
	maxValue      = 64 << 10 // bytes of JSON per attribute
	maxNames      = 200      // names per Get
)

// Provenance says where a value comes from.
type Provenance struct {
	// Source is "register" (the civil register), "resident" (entered by
	// the resident) or "department:<id>" (a city department).
	Source   string
	Verified bool
	// UpdatedAt is when the value was written. Put sets it; the caller's
	// value is ignored.
	UpdatedAt time.Time
}

// Attribute is one decrypted attribute.
type Attribute struct {
	Name  string
	Value json.RawMessage
	Provenance
	// Version counts the writes of the attribute; pass it to Put or Delete
	// to change what was read and nothing newer.
	Version int64
}

// Options configures a Vault. A zero field takes the default.
type Options struct {
	// SchemaVersion is bound into the associated data of new writes
	// (callers pass attr.SchemaVersion) and stored with each row; a read
	// uses the row's own value. Default DefaultSchemaVersion.
	SchemaVersion int64
	// CacheTTL is how long an unwrapped data key stays in memory after it
	// was unwrapped (default 2 min).
	CacheTTL time.Duration
	// CacheSize bounds the cached data keys, least recently used out first
	// (default 10000). Negative: no cache, every operation unwraps its data
	// key through the key backend.
	CacheSize int
	Now       func() time.Time // default time.Now
	Log       *slog.Logger     // default: discard
}

// Vault is the encrypted attribute store. It is safe for concurrent use.
type Vault struct {
	db    *db.DB
	ring  *keyring.Keyring
	km    hsm.KeyManager
	opts  Options
	log   *slog.Logger
	cache *keyCache

	mu   sync.Mutex
	keks map[string]string // vault-kek key ID → backend URI (never changes for an ID)
}

// New returns a Vault over a migrated database, the keyring that holds the
// vault-kek role and the key backend of that keyring.
func New(d *db.DB, ring *keyring.Keyring, km hsm.KeyManager, opts Options) *Vault {
	if opts.SchemaVersion <= 0 {
		opts.SchemaVersion = DefaultSchemaVersion
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Vault{
		db: d, ring: ring, km: km, opts: opts, log: opts.Log,
		cache: newKeyCache(opts.CacheTTL, opts.CacheSize, opts.Now),
		keks:  map[string]string{},
	}
}

// timestamp is the current time as the database keeps it.
func (v *Vault) timestamp() time.Time {
	return v.opts.Now().UTC().Truncate(time.Microsecond)
}

// errStaleKey: the data key a write was sealed under is no longer the
// resident's (rotated or erased meanwhile); the write is sealed again.
var errStaleKey = errors.New("vault: data key changed")

// Put writes one attribute. expectVersion 0: the attribute must not exist
// yet; n > 0: it must be at version n; -1: unconditionally. Otherwise it
// returns ErrConflict and changes nothing. The first write for a resident
// creates the data key, wrapped under the active vault-kek key; a write
// after an erasure starts a new vault. It returns the stored attribute.
func (v *Vault) Put(ctx context.Context, residentID, name string, value json.RawMessage, p Provenance, expectVersion int64) (Attribute, error) {
	if err := checkResident(residentID); err != nil {
		return Attribute{}, err
	}
	if err := checkName(name); err != nil {
		return Attribute{}, err
	}
	if len(value) > maxValue {
		return Attribute{}, fmt.Errorf("%w: value of %s is %d bytes, at most %d allowed", ErrInvalid, name, len(value), maxValue)
	}
	if !json.Valid(value) {
		return Attribute{}, fmt.Errorf("%w: value of %s is not JSON", ErrInvalid, name)
	}
	if err := checkSource(p.Source); err != nil {
		return Attribute{}, err
	}
	if expectVersion < -1 {
		return Attribute{}, fmt.Errorf("%w: expected version %d (use -1, 0 or a version read)", ErrInvalid, expectVersion)
	}
	schema := v.opts.SchemaVersion
	for attempt := 1; ; attempt++ {
		id, key, err := v.writeKey(ctx, residentID)
		if err != nil {
			return Attribute{}, err
		}
		sealed, err := seal(key, value, attrAAD(residentID, name, schema, id.version))
		clear(key)
		if err != nil {
			return Attribute{}, fmt.Errorf("vault: seal %s: %w", name, err)
		}
		now := v.timestamp()
		var version int64
		err = v.db.InTx(ctx, func(tx *sql.Tx) error {
			cur, err := loadKey(ctx, tx, residentID)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && cur.id != id) {
				return errStaleKey
			}
			if err != nil {
				return err
			}
			// A write after an erasure starts a new vault.
			if _, err := tx.ExecContext(ctx, `DELETE FROM vault_erasures WHERE resident_id = $1`, residentID); err != nil {
				return err
			}
			version, err = writeAttribute(ctx, tx, residentID, name, schema, id.version, sealed, p, now, expectVersion)
			return err
		})
		if errors.Is(err, errStaleKey) && attempt < 5 {
			v.cache.drop(residentID)
			continue
		}
		if err != nil {
			if errors.Is(err, ErrConflict) {
				return Attribute{}, err
			}
			return Attribute{}, fmt.Errorf("vault: put %s of resident %s: %w", name, residentID, err)
		}
		return Attribute{
			Name:       name,
			Value:      slices.Clone(value),
			Provenance: Provenance{Source: p.Source, Verified: p.Verified, UpdatedAt: now},
			Version:    version,
		}, nil
	}
}

// writeAttribute inserts or updates the row as expectVersion says and
// returns its new version.
func writeAttribute(ctx context.Context, tx *sql.Tx, residentID, name string, schema, keyVersion int64, sealed []byte,
	p Provenance, now time.Time, expectVersion int64) (int64, error) {
	ts := db.Timestamp{Time: now}
	switch expectVersion {
	case 0:
		_, err := tx.ExecContext(ctx, `INSERT INTO vault_attributes
			(resident_id, name, schema_version, key_version, ciphertext, source, verified, version, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)`,
			residentID, name, schema, keyVersion, sealed, p.Source, p.Verified, ts)
		if db.IsUniqueViolation(err) {
			return 0, fmt.Errorf("%w: %s of resident %s exists already", ErrConflict, name, residentID)
		}
		return 1, err
	case -1:
		var version int64
		err := tx.QueryRowContext(ctx, `INSERT INTO vault_attributes
			(resident_id, name, schema_version, key_version, ciphertext, source, verified, version, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
			ON CONFLICT (resident_id, name) DO UPDATE SET
				schema_version = excluded.schema_version, key_version = excluded.key_version,
				ciphertext = excluded.ciphertext, source = excluded.source, verified = excluded.verified,
				version = vault_attributes.version + 1, updated_at = excluded.updated_at
			RETURNING version`,
			residentID, name, schema, keyVersion, sealed, p.Source, p.Verified, ts).Scan(&version)
		return version, err
	default:
		res, err := tx.ExecContext(ctx, `UPDATE vault_attributes SET
			schema_version = $1, key_version = $2, ciphertext = $3, source = $4, verified = $5,
			version = version + 1, updated_at = $6
			WHERE resident_id = $7 AND name = $8 AND version = $9`,
			schema, keyVersion, sealed, p.Source, p.Verified, ts, residentID, name, expectVersion)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, err
		} else if n == 0 {
			return 0, fmt.Errorf("%w: %s of resident %s is not at version %d", ErrConflict, name, residentID, expectVersion)
		}
		return expectVersion + 1, nil
	}
}

// Get returns the named attributes that exist, or all of them when names is
// empty, in name order (bytewise), decrypted. It returns ErrErased if the
// vault was erased and nothing was stored since, and ErrDecrypt naming the
// attribute if a row does not authenticate.
func (v *Vault) Get(ctx context.Context, residentID string, names ...string) ([]Attribute, error) {
	if err := checkResident(residentID); err != nil {
		return nil, err
	}
	if len(names) > maxNames {
		return nil, fmt.Errorf("%w: %d names asked, at most %d", ErrInvalid, len(names), maxNames)
	}
	args := []any{residentID}
	var filter string
	if len(names) > 0 {
		seen := map[string]bool{}
		var marks []string
		for _, n := range names {
			if err := checkName(n); err != nil {
				return nil, err
			}
			if !seen[n] {
				seen[n] = true
				args = append(args, n)
				marks = append(marks, fmt.Sprintf("$%d", len(args)))
			}
		}
		filter = ` AND a.name IN (` + strings.Join(marks, ", ") + `)`
	}
	// One statement, so the attributes and the data key are read from the
	// same snapshot even while the key is rotated.
	rows, err := v.db.QueryContext(ctx, `SELECT a.name, a.schema_version, a.key_version, a.ciphertext, a.source, a.verified,
			a.version, a.updated_at, k.key_version, k.kek_id, k.wrapped_key
		FROM vault_attributes a LEFT JOIN vault_data_keys k ON k.resident_id = a.resident_id
		WHERE a.resident_id = $1`+filter, args...)
	if err != nil {
		return nil, fmt.Errorf("vault: get attributes of resident %s: %w", residentID, err)
	}
	type row struct {
		attr           Attribute
		schema, keyVer int64
		sealed         []byte
	}
	var (
		found []row
		key   storedKey
		has   bool
	)
	for rows.Next() {
		var (
			r       row
			updated db.Timestamp
			kv      sql.NullInt64
			kek     sql.NullString
			wrapped []byte
		)
		if err := rows.Scan(&r.attr.Name, &r.schema, &r.keyVer, &r.sealed, &r.attr.Source, &r.attr.Verified,
			&r.attr.Version, &updated, &kv, &kek, &wrapped); err != nil {
			rows.Close()
			return nil, fmt.Errorf("vault: read attribute of resident %s: %w", residentID, err)
		}
		r.attr.UpdatedAt = updated.Time
		if kv.Valid && kek.Valid {
			key, has = storedKey{keyID{kv.Int64, kek.String, string(wrapped)}}, true
		}
		found = append(found, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: get attributes of resident %s: %w", residentID, err)
	}
	if len(found) == 0 {
		return nil, v.checkErased(ctx, residentID)
	}
	if !has {
		// Erase removes the attributes with the key; a row without a key
		// was left or put there by something else.
		return nil, fmt.Errorf("%w: attribute %s of resident %s has no data key", ErrDecrypt, found[0].attr.Name, residentID)
	}
	dek, err := v.readKey(ctx, residentID, key)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	out := make([]Attribute, 0, len(found))
	for _, r := range found {
		if r.keyVer != key.id.version {
			v.log.Warn("vault: attribute labelled with another data-key version", "resident_id", residentID,
				"attribute", r.attr.Name, "row_key_version", r.keyVer, "key_version", key.id.version)
			return nil, fmt.Errorf("%w: attribute %s of resident %s names data key version %d, the resident's is %d",
				ErrDecrypt, r.attr.Name, residentID, r.keyVer, key.id.version)
		}
		plain, err := open(dek, r.sealed, attrAAD(residentID, r.attr.Name, r.schema, r.keyVer))
		if err != nil {
			v.log.Warn("vault: attribute does not authenticate", "resident_id", residentID, "attribute", r.attr.Name)
			return nil, fmt.Errorf("%w: attribute %s of resident %s", ErrDecrypt, r.attr.Name, residentID)
		}
		r.attr.Value = plain
		out = append(out, r.attr)
	}
	slices.SortFunc(out, func(a, b Attribute) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// checkErased returns ErrErased if the resident's vault was erased and
// nothing stored since, else nil.
func (v *Vault) checkErased(ctx context.Context, residentID string) error {
	var at db.Timestamp
	err := v.db.QueryRowContext(ctx, `SELECT erased_at FROM vault_erasures WHERE resident_id = $1`, residentID).Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("vault: read erasure of resident %s: %w", residentID, err)
	}
	return fmt.Errorf("%w (resident %s, at %s)", ErrErased, residentID, at.Format(time.RFC3339))
}

// Delete removes one attribute. expectVersion n > 0: only if it is at
// version n (else ErrConflict); -1: whatever its version. A missing
// attribute is ErrNotFound (ErrErased if the vault was erased).
func (v *Vault) Delete(ctx context.Context, residentID, name string, expectVersion int64) error {
	if err := checkResident(residentID); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	if expectVersion == 0 || expectVersion < -1 {
		return fmt.Errorf("%w: delete needs the version read, or -1 (got %d)", ErrInvalid, expectVersion)
	}
	err := v.db.InTx(ctx, func(tx *sql.Tx) error {
		query, args := `DELETE FROM vault_attributes WHERE resident_id = $1 AND name = $2`, []any{residentID, name}
		if expectVersion > 0 {
			query, args = query+` AND version = $3`, append(args, expectVersion)
		}
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var version int64
		err = tx.QueryRowContext(ctx, `SELECT version FROM vault_attributes WHERE resident_id = $1 AND name = $2`,
			residentID, name).Scan(&version)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %s of resident %s is at version %d, not %d", ErrConflict, name, residentID, version, expectVersion)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var erased int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM vault_erasures WHERE resident_id = $1`, residentID).Scan(&erased); err != nil {
			return err
		}
		if erased > 0 {
			return fmt.Errorf("%w (resident %s)", ErrErased, residentID)
		}
		return fmt.Errorf("%w: %s of resident %s", ErrNotFound, name, residentID)
	})
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrErased) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("vault: delete %s of resident %s: %w", name, residentID, err)
	}
	return err
}

// Erase crypto-shreds the resident's vault: in one transaction it deletes
// the data key and every attribute and records the erasure, then drops
// (zeroes) the cached key. Without the data key the ciphertexts cannot be
// decrypted, here or in a copy. Erasing again is not an error. Another
// process's cache may hold the key in memory up to its CacheTTL; it can no
// longer find anything to decrypt with it.
func (v *Vault) Erase(ctx context.Context, residentID string) error {
	if err := checkResident(residentID); err != nil {
		return err
	}
	now := v.timestamp()
	var attrs int64
	err := v.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM vault_attributes WHERE resident_id = $1`, residentID)
		if err != nil {
			return err
		}
		if attrs, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM vault_data_keys WHERE resident_id = $1`, residentID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO vault_erasures (resident_id, erased_at) VALUES ($1, $2)
			ON CONFLICT (resident_id) DO NOTHING`, residentID, db.Timestamp{Time: now})
		return err
	})
	v.cache.drop(residentID)
	if err != nil {
		return fmt.Errorf("vault: erase resident %s: %w", residentID, err)
	}
	v.log.Info("vault: erased", "resident_id", residentID, "attributes", attrs)
	return nil
}

func checkResident(id string) error {
	if id == "" || len(id) > maxResidentID || !printable(id) {
		return fmt.Errorf("%w: resident ID must be 1 to %d printable ASCII characters without spaces", ErrInvalid, maxResidentID)
	}
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > maxName || !printable(name) {
		return fmt.Errorf("%w: attribute name must be 1 to %d printable ASCII characters without spaces", ErrInvalid, maxName)
	}
	return nil
}

func checkSource(s string) error {
	dept, isDept := strings.CutPrefix(s, "department:")
	switch {
	case s == "register", s == "resident":
		return nil
	case isDept && dept != "" && len(s) <= maxSource && printable(dept):
		return nil
	}
	return fmt.Errorf(`%w: provenance source must be "register", "resident" or "department:<id>"`, ErrInvalid)
}

// printable: visible ASCII, no space. Names and IDs appear in errors and
// logs; this keeps them on one line and unambiguous.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
