package client

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"eidp/internal/db"
	"eidp/internal/secret"
)

// Errors at the package boundary; match them with errors.Is.
var (
	// ErrNotFound: no client has that ID.
	ErrNotFound = errors.New("client: no such client")
	// ErrExists: a client with the requested ID is already registered.
	ErrExists = errors.New("client: client ID already registered")
	// ErrInvalidClient: client authentication failed — unknown client,
	// wrong secret, or a client that does not authenticate with a secret.
	// Deliberately one error for all (RFC 6749 §5.2 invalid_client), so
	// that it does not tell which client IDs exist.
	ErrInvalidClient = errors.New("client: invalid client credentials")
	// ErrNoSecret: the client's authentication method uses no secret, so
	// there is none to rotate.
	ErrNoSecret = errors.New("client: the client does not authenticate with a secret")
)

const (
	clientIDBytes = 16 // 128 bits: unguessable, 22 characters
	secretBytes   = 32 // 256 bits: SHA-256 alone is an adequate hash
	maxSecretLen  = 512
)

// Store keeps clients in the oauth_clients table.
type Store struct {
	db   *db.DB
	opts Options
	now  func() time.Time // tests replace it (export_test.go)
}

// NewStore returns a Store on d (migrated) that validates metadata with
// opts.
func NewStore(d *db.DB, opts Options) *Store {
	return &Store{db: d, opts: opts, now: time.Now}
}

// timestamp returns the current time as the database keeps it (UTC,
// microseconds), so that returned clients equal what is read back.
func (s *Store) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// Create registers c after WithDefaults and Validate. Without a ClientID it
// gets a random one (16 bytes, base64url); a requested ClientID must be
// well-formed (ValidClientID) and unused (else ErrExists). A client that
// authenticates with a secret gets one: 32 random bytes, base64url, returned
// here once and stored only as its SHA-256 hash (RFC 7591 §3.2.1: the
// server issues the secret). Other clients get an empty secret.
func (s *Store) Create(ctx context.Context, c Client) (Client, string, error) {
	c = c.WithDefaults()
	if err := c.Validate(s.opts); err != nil {
		return Client{}, "", err
	}
	if c.ClientID == "" {
		c.ClientID = secret.Random(clientIDBytes)
	}
	var plain string
	c.ClientSecretHash = ""
	if c.UsesSecret() {
		plain = secret.Random(secretBytes)
		c.ClientSecretHash = secret.Hash(plain)
	}
	c.ClientSecretExpiresAt = 0
	now := s.timestamp()
	c.CreatedAt, c.UpdatedAt = now, now
	metadata, err := storedMetadata(c)
	if err != nil {
		return Client{}, "", err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO oauth_clients
		(id, token_endpoint_auth_method, client_secret_hash, metadata, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		c.ClientID, c.TokenEndpointAuthMethod, nullable(c.ClientSecretHash), metadata, db.Timestamp{Time: now}, db.Timestamp{Time: now})
	if db.IsUniqueViolation(err) {
		return Client{}, "", fmt.Errorf("%w: %s", ErrExists, c.ClientID)
	}
	if err != nil {
		return Client{}, "", fmt.Errorf("client: create %s: %w", c.ClientID, err)
	}
	return c, plain, nil
}

// Get returns the client with that ID, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Client, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = $1`, id)
	c, err := scanClient(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Client{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Client{}, fmt.Errorf("client: get %s: %w", id, err)
	}
	return c, nil
}

// List returns every client, oldest first.
func (s *Store) List(ctx context.Context) ([]Client, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+clientColumns+` FROM oauth_clients ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("client: list: %w", err)
	}
	defer rows.Close()
	var out []Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("client: list: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("client: list: %w", err)
	}
	return out, nil
}

// Update replaces the metadata of the client c.ClientID with c (after
// WithDefaults and Validate), like an RFC 7592 §2.2 PUT: fields left empty
// take their defaults, not their old values. CreatedAt and the secret are
// kept; ClientSecretHash, CreatedAt and UpdatedAt in c are ignored.
//
// When the update changes how the client authenticates, the secret follows:
// a client that stops using a secret loses it (the old secret must not keep
// working), and a client that starts using one gets a new one, returned here
// once as with Create. Otherwise the returned secret is empty.
func (s *Store) Update(ctx context.Context, c Client) (Client, string, error) {
	if c.ClientID == "" {
		return Client{}, "", invalid("client_id", "is required to update a client")
	}
	c = c.WithDefaults()
	if err := c.Validate(s.opts); err != nil {
		return Client{}, "", err
	}
	c.ClientSecretExpiresAt = 0
	newSecret := secret.Random(secretBytes) // used only if the client starts using a secret
	var (
		issued  string
		updated Client
	)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		issued, updated = "", c
		var (
			oldHash   sql.NullString
			createdAt db.Timestamp
		)
		err := tx.QueryRowContext(ctx, `SELECT client_secret_hash, created_at FROM oauth_clients WHERE id = $1`, c.ClientID).
			Scan(&oldHash, &createdAt)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, c.ClientID)
		}
		if err != nil {
			return err
		}
		switch {
		case !updated.UsesSecret():
			updated.ClientSecretHash = ""
		case oldHash.Valid:
			updated.ClientSecretHash = oldHash.String
		default:
			issued = newSecret
			updated.ClientSecretHash = secret.Hash(newSecret)
		}
		updated.CreatedAt = createdAt.Time
		updated.UpdatedAt = s.timestamp()
		metadata, err := storedMetadata(updated)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth_clients
			SET token_endpoint_auth_method = $2, client_secret_hash = $3, metadata = $4, updated_at = $5
			WHERE id = $1`,
			updated.ClientID, updated.TokenEndpointAuthMethod, nullable(updated.ClientSecretHash), metadata, db.Timestamp{Time: updated.UpdatedAt})
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Client{}, "", err
	}
	if err != nil {
		return Client{}, "", fmt.Errorf("client: update %s: %w", c.ClientID, err)
	}
	return updated, issued, nil
}

// RotateSecret gives the client a new secret, returned once, and makes the
// old one invalid at once. ErrNoSecret if the client does not authenticate
// with a secret, ErrNotFound if there is no such client.
func (s *Store) RotateSecret(ctx context.Context, id string) (string, error) {
	plain := secret.Random(secretBytes)
	res, err := s.db.ExecContext(ctx, `UPDATE oauth_clients SET client_secret_hash = $2, updated_at = $3
		WHERE id = $1 AND client_secret_hash IS NOT NULL`,
		id, secret.Hash(plain), db.Timestamp{Time: s.timestamp()})
	if err != nil {
		return "", fmt.Errorf("client: rotate secret of %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("client: rotate secret of %s: %w", id, err)
	} else if n == 1 {
		return plain, nil
	}
	// Nothing changed: say why. (The table's check constraint makes "has a
	// hash" the same as "uses a secret".)
	if _, err := s.Get(ctx, id); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%w: %s", ErrNoSecret, id)
}

// Delete removes the client, or returns ErrNotFound.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM oauth_clients WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("client: delete %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("client: delete %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}

// dummyHash is compared against when the client is unknown, so that an
// unknown client costs the same hash and comparison as a wrong secret.
var dummyHash = secret.Hash("no client has this secret")

// VerifySecret authenticates a client_secret_basic or client_secret_post
// client (RFC 6749 §2.3.1) and returns it. An unknown client, a wrong
// secret, and a client that does not use a secret all give ErrInvalidClient,
// so that callers cannot tell which client IDs exist; the comparison is in
// constant time. A database failure is returned as itself, not as
// ErrInvalidClient: the client may well be valid.
func (s *Store) VerifySecret(ctx context.Context, id, presented string) (Client, error) {
	c, err := s.Get(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Client{}, err
	}
	want := dummyHash
	if err == nil && c.UsesSecret() && c.ClientSecretHash != "" {
		want = c.ClientSecretHash
	}
	if len(presented) > maxSecretLen {
		presented = "" // not ours; hash something short instead
	}
	match := subtle.ConstantTimeCompare([]byte(secret.Hash(presented)), []byte(want)) == 1
	if err != nil || !match || presented == "" || !c.UsesSecret() {
		return Client{}, ErrInvalidClient
	}
	return c, nil
}

const clientColumns = `id, client_secret_hash, metadata, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanClient(row scanner) (Client, error) {
	var (
		id                   string
		hash                 sql.NullString
		metadata             string
		createdAt, updatedAt db.Timestamp
	)
	if err := row.Scan(&id, &hash, &metadata, &createdAt, &updatedAt); err != nil {
		return Client{}, err
	}
	// Stored metadata is read leniently (fields a newer eidp wrote are
	// ignored); operator input goes through ParseMetadata instead.
	var c Client
	if err := json.Unmarshal([]byte(metadata), &c); err != nil {
		return Client{}, fmt.Errorf("client %s: stored metadata: %w", id, err)
	}
	c.ClientID = id
	c.ClientSecretHash = hash.String
	c.ClientSecretExpiresAt = 0
	c.CreatedAt, c.UpdatedAt = createdAt.Time, updatedAt.Time
	return c, nil
}

// storedMetadata is the metadata column: the client's JSON form without
// what has columns of its own.
func storedMetadata(c Client) (string, error) {
	c.ClientID, c.ClientSecretHash = "", ""
	c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("client: encode metadata: %w", err)
	}
	return string(b), nil
}

func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
