package vault

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/internal/db"
)

// storedKey is a row of vault_data_keys.
type storedKey struct {
	id keyID
}

func (sk storedKey) version() int64  { return sk.id.version }
func (sk storedKey) kekID() string   { return sk.id.kekID }
func (sk storedKey) wrapped() []byte { return []byte(sk.id.wrapped) }

// writeKey returns the resident's current data key (a copy the caller
// zeroes) for a write, creating it on the resident's first write.
func (v *Vault) writeKey(ctx context.Context, residentID string) (keyID, []byte, error) {
	if id, key, ok := v.cache.current(residentID); ok {
		return id, key, nil
	}
	sk, err := loadKey(ctx, v.db, residentID)
	if errors.Is(err, sql.ErrNoRows) {
		return v.createKey(ctx, residentID)
	}
	if err != nil {
		return keyID{}, nil, fmt.Errorf("vault: read data key of resident %s: %w", residentID, err)
	}
	key, err := v.readKey(ctx, residentID, sk)
	return sk.id, key, err
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func loadKey(ctx context.Context, q queryRower, residentID string) (storedKey, error) {
	var (
		version int64
		kekID   string
		wrapped []byte
	)
	err := q.QueryRowContext(ctx, `SELECT key_version, kek_id, wrapped_key FROM vault_data_keys WHERE resident_id = $1`,
		residentID).Scan(&version, &kekID, &wrapped)
	return storedKey{keyID{version, kekID, string(wrapped)}}, err
}

// createKey makes the resident's first data key (version 1). Two first
// writes at once may both make one: the database keeps the first inserted
// and both use it.
func (v *Vault) createKey(ctx context.Context, residentID string) (keyID, []byte, error) {
	kek, err := v.activeKEK(ctx)
	if err != nil {
		return keyID{}, nil, err
	}
	dek := make([]byte, dataKeySize)
	rand.Read(dek) // never fails (crypto/rand, Go 1.24+)
	const version = 1
	wrapped, err := v.km.Encrypt(ctx, kek.URI, dek, wrapAAD(residentID, version))
	if err != nil {
		clear(dek)
		return keyID{}, nil, fmt.Errorf("vault: wrap new data key of resident %s under %s key %s: %w", residentID, keyring.VaultKEK, kek.ID, err)
	}
	id := keyID{version: version, kekID: kek.ID, wrapped: string(wrapped)}
	res, err := v.db.ExecContext(ctx, `INSERT INTO vault_data_keys (resident_id, key_version, kek_id, wrapped_key, created_at, rewrapped_at)
		VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (resident_id) DO NOTHING`,
		residentID, id.version, kek.ID, wrapped, db.Timestamp{Time: v.timestamp()})
	var won int64
	if err == nil {
		won, err = res.RowsAffected()
	}
	if err != nil {
		clear(dek)
		var known int
		if qerr := v.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM residents WHERE id = $1`, residentID).Scan(&known); qerr == nil && known == 0 {
			return keyID{}, nil, fmt.Errorf("%w: no resident %s", ErrInvalid, residentID)
		}
		return keyID{}, nil, fmt.Errorf("vault: store new data key of resident %s: %w", residentID, err)
	}
	if won == 1 {
		v.log.Debug("vault: created data key", "resident_id", residentID, "key_version", id.version, "kek_id", kek.ID)
		v.cache.put(residentID, id, dek)
		return id, dek, nil
	}
	// Another write made the key first: use that one.
	clear(dek)
	sk, err := loadKey(ctx, v.db, residentID)
	if err != nil {
		return keyID{}, nil, fmt.Errorf("vault: read data key of resident %s: %w", residentID, err)
	}
	key, err := v.readKey(ctx, residentID, sk)
	return sk.id, key, err
}

// readKey returns the unwrapped data key sk (a copy the caller zeroes),
// from the cache or through the key backend.
func (v *Vault) readKey(ctx context.Context, residentID string, sk storedKey) ([]byte, error) {
	if key, ok := v.cache.get(residentID, sk.id); ok {
		return key, nil
	}
	key, err := v.unwrap(ctx, residentID, sk)
	if err != nil {
		return nil, err
	}
	v.cache.put(residentID, sk.id, key)
	return key, nil
}

// unwrap opens a wrapped data key with the vault-kek key that wrapped it,
// whatever that key's state: a retiring key still unwraps until every data
// key is rewrapped.
func (v *Vault) unwrap(ctx context.Context, residentID string, sk storedKey) ([]byte, error) {
	uri, err := v.kekURI(ctx, sk.kekID())
	if err != nil {
		return nil, err
	}
	key, err := v.km.Decrypt(ctx, uri, sk.wrapped(), wrapAAD(residentID, sk.version()))
	if errors.Is(err, hsm.ErrDecrypt) || (err == nil && len(key) != dataKeySize) {
		clear(key)
		v.log.Warn("vault: data key does not authenticate", "resident_id", residentID, "key_version", sk.version(), "kek_id", sk.kekID())
		return nil, fmt.Errorf("%w: data key version %d of resident %s", ErrDecrypt, sk.version(), residentID)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: unwrap data key of resident %s with %s key %s: %w", residentID, keyring.VaultKEK, sk.kekID(), err)
	}
	return key, nil
}

// kekURI returns the backend URI of a vault-kek key ID. The mapping never
// changes, so it is kept; an unknown ID refreshes it from the keyring.
func (v *Vault) kekURI(ctx context.Context, kekID string) (string, error) {
	v.mu.Lock()
	uri, ok := v.keks[kekID]
	v.mu.Unlock()
	if ok {
		return uri, nil
	}
	if _, err := v.vaultKEKs(ctx); err != nil {
		return "", err
	}
	v.mu.Lock()
	uri, ok = v.keks[kekID]
	v.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("vault: data key wrapped by %q, which is no %s key of the keyring", kekID, keyring.VaultKEK)
	}
	return uri, nil
}

// vaultKEKs lists the vault-kek keys and records their URIs.
func (v *Vault) vaultKEKs(ctx context.Context) ([]keyring.Key, error) {
	keys, err := v.ring.List(ctx, keyring.VaultKEK)
	if err != nil {
		return nil, fmt.Errorf("vault: list %s keys: %w", keyring.VaultKEK, err)
	}
	v.mu.Lock()
	for _, k := range keys {
		v.keks[k.ID] = k.URI
	}
	v.mu.Unlock()
	return keys, nil
}

// activeKEK returns the vault-kek key that wraps new data keys.
func (v *Vault) activeKEK(ctx context.Context) (keyring.Key, error) {
	if _, err := v.ring.Advance(ctx, keyring.VaultKEK); err != nil {
		return keyring.Key{}, fmt.Errorf("vault: %w", err)
	}
	kek, err := v.ring.Active(ctx, keyring.VaultKEK)
	if err != nil {
		return keyring.Key{}, fmt.Errorf("vault: %w (create one: eidp keys create --role %s)", err, keyring.VaultKEK)
	}
	v.mu.Lock()
	v.keks[kek.ID] = kek.URI
	v.mu.Unlock()
	return kek, nil
}

// RotateDataKey gives the resident a new data key (key_version + 1, wrapped
// under the active vault-kek key) and re-encrypts every attribute under it,
// in one transaction; attribute versions do not change. The old key is
// gone afterwards (and zeroed in this process's cache). A resident without
// a vault is ErrNotFound, an erased one ErrErased.
func (v *Vault) RotateDataKey(ctx context.Context, residentID string) error {
	if err := checkResident(residentID); err != nil {
		return err
	}
	kek, err := v.activeKEK(ctx)
	if err != nil {
		return err
	}
	fresh := make([]byte, dataKeySize)
	rand.Read(fresh) // never fails (crypto/rand, Go 1.24+)
	defer clear(fresh)
	for attempt := 1; ; attempt++ {
		newID, count, err := v.rotateDataKey(ctx, residentID, kek, fresh)
		if errors.Is(err, errStaleKey) && attempt < 5 {
			continue
		}
		if err != nil {
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrErased) || errors.Is(err, ErrDecrypt) {
				return err
			}
			return fmt.Errorf("vault: rotate data key of resident %s: %w", residentID, err)
		}
		v.cache.drop(residentID)
		v.cache.put(residentID, newID, fresh)
		v.log.Info("vault: rotated data key", "resident_id", residentID, "key_version", newID.version, "attributes", count)
		return nil
	}
}

// rotateDataKey makes one try of RotateDataKey: errStaleKey if the key
// changed between the unwrap and the transaction.
func (v *Vault) rotateDataKey(ctx context.Context, residentID string, kek keyring.Key, fresh []byte) (keyID, int, error) {
	// The key backend is called before the transaction, which then
	// checks that the data key is still the one unwrapped.
	old, err := loadKey(ctx, v.db, residentID)
	if errors.Is(err, sql.ErrNoRows) {
		if err := v.checkErased(ctx, residentID); err != nil {
			return keyID{}, 0, err
		}
		return keyID{}, 0, fmt.Errorf("%w: resident %s has no vault, so no data key to rotate", ErrNotFound, residentID)
	}
	if err != nil {
		return keyID{}, 0, err
	}
	oldKey, err := v.readKey(ctx, residentID, old)
	if err != nil {
		return keyID{}, 0, err
	}
	defer clear(oldKey)
	wrapped, err := v.km.Encrypt(ctx, kek.URI, fresh, wrapAAD(residentID, old.version()+1))
	if err != nil {
		return keyID{}, 0, fmt.Errorf("wrap new data key under %s key %s: %w", keyring.VaultKEK, kek.ID, err)
	}
	newID := keyID{version: old.version() + 1, kekID: kek.ID, wrapped: string(wrapped)}
	now := db.Timestamp{Time: v.timestamp()}
	var count int
	err = v.db.InTx(ctx, func(tx *sql.Tx) error {
		count = 0
		cur, err := loadKey(ctx, tx, residentID)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && cur.id != old.id) {
			return errStaleKey
		}
		if err != nil {
			return err
		}
		type row struct {
			name           string
			schema, keyVer int64
			sealed         []byte
		}
		rows, err := tx.QueryContext(ctx, `SELECT name, schema_version, key_version, ciphertext FROM vault_attributes WHERE resident_id = $1`, residentID)
		if err != nil {
			return err
		}
		var attrs []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.name, &r.schema, &r.keyVer, &r.sealed); err != nil {
				rows.Close()
				return err
			}
			attrs = append(attrs, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range attrs {
			if r.keyVer != old.version() {
				return fmt.Errorf("%w: attribute %s of resident %s names data key version %d, the resident's is %d",
					ErrDecrypt, r.name, residentID, r.keyVer, old.version())
			}
			plain, err := open(oldKey, r.sealed, attrAAD(residentID, r.name, r.schema, r.keyVer))
			if err != nil {
				return fmt.Errorf("%w: attribute %s of resident %s", ErrDecrypt, r.name, residentID)
			}
			resealed, err := seal(fresh, plain, attrAAD(residentID, r.name, r.schema, newID.version))
			clear(plain)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE vault_attributes SET key_version = $1, ciphertext = $2 WHERE resident_id = $3 AND name = $4`,
				newID.version, resealed, residentID, r.name); err != nil {
				return err
			}
			count++
		}
		_, err = tx.ExecContext(ctx, `UPDATE vault_data_keys SET key_version = $1, created_at = $2, kek_id = $3, wrapped_key = $4, rewrapped_at = $2
			WHERE resident_id = $5`, newID.version, now, kek.ID, wrapped, residentID)
		return err
	})
	return newID, count, err
}

// RewrapKeys re-wraps, under the active vault-kek key, up to batch data keys
// still wrapped by an older vault-kek key, and returns how many it rewrapped
// and how many remain (remaining is meaningful only without error).
//
// It is online: each row changes atomically, from one wrapping of the same
// data key to another, and readers unwrap with the row's own kek_id. It is
// resumable: rows are picked by their kek_id, so a run after a crash or an
// interruption continues where the last one stopped, and it may run on
// several nodes at once (a row changed meanwhile is left alone). Attribute
// ciphertexts are never read or written.
func (v *Vault) RewrapKeys(ctx context.Context, batch int) (done, remaining int, err error) {
	if batch <= 0 {
		return 0, 0, fmt.Errorf("%w: batch must be positive, got %d", ErrInvalid, batch)
	}
	kek, err := v.activeKEK(ctx)
	if err != nil {
		return 0, 0, err
	}
	keys, err := v.vaultKEKs(ctx)
	if err != nil {
		return 0, 0, err
	}
	// The older keys by ID, so that the kek_id index finds their rows.
	args := []any{}
	var marks []string
	for _, k := range keys {
		if k.ID != kek.ID {
			args = append(args, k.ID)
			marks = append(marks, fmt.Sprintf("$%d", len(args)))
		}
	}
	if len(args) == 0 {
		return 0, 0, nil
	}
	older := `kek_id IN (` + strings.Join(marks, ", ") + `)`

	type row struct {
		residentID string
		storedKey
	}
	rows, err := v.db.QueryContext(ctx, `SELECT resident_id, key_version, kek_id, wrapped_key FROM vault_data_keys
		WHERE `+older+fmt.Sprintf(` ORDER BY resident_id LIMIT %d`, batch), args...)
	if err != nil {
		return 0, 0, fmt.Errorf("vault: rewrap: list data keys: %w", err)
	}
	var todo []row
	for rows.Next() {
		var (
			r       row
			wrapped []byte
		)
		if err := rows.Scan(&r.residentID, &r.id.version, &r.id.kekID, &wrapped); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("vault: rewrap: read data key: %w", err)
		}
		r.id.wrapped = string(wrapped)
		todo = append(todo, r)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("vault: rewrap: list data keys: %w", err)
	}

	for _, r := range todo {
		dek, err := v.unwrap(ctx, r.residentID, r.storedKey)
		if err != nil {
			return done, 0, fmt.Errorf("vault: rewrap: %w", err)
		}
		wrapped, err := v.km.Encrypt(ctx, kek.URI, dek, wrapAAD(r.residentID, r.version()))
		clear(dek)
		if err != nil {
			return done, 0, fmt.Errorf("vault: rewrap data key of resident %s under %s key %s: %w", r.residentID, keyring.VaultKEK, kek.ID, err)
		}
		// Only if the row still holds what was unwrapped: a rotation or
		// an erasure meanwhile wins.
		res, err := v.db.ExecContext(ctx, `UPDATE vault_data_keys SET kek_id = $1, wrapped_key = $2, rewrapped_at = $3
			WHERE resident_id = $4 AND key_version = $5 AND kek_id = $6 AND wrapped_key = $7`,
			kek.ID, wrapped, db.Timestamp{Time: v.timestamp()}, r.residentID, r.version(), r.kekID(), r.wrapped())
		if err != nil {
			return done, 0, fmt.Errorf("vault: rewrap data key of resident %s: %w", r.residentID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return done, 0, fmt.Errorf("vault: rewrap data key of resident %s: %w", r.residentID, err)
		} else if n == 1 {
			done++
		}
	}
	if err := v.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vault_data_keys WHERE `+older, args...).Scan(&remaining); err != nil {
		return done, 0, fmt.Errorf("vault: rewrap: count data keys: %w", err)
	}
	if done > 0 {
		v.log.Info("vault: rewrapped data keys", "kek_id", kek.ID, "rewrapped", done, "remaining", remaining)
	}
	return done, remaining, nil
}
