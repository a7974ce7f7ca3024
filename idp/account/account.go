package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"eidp/internal/db"
	"eidp/internal/secret"
)

// Errors at the package boundary; match them with errors.Is.
var (
	// ErrNotFound: no resident with that ID or ID-card number.
	ErrNotFound = errors.New("account: resident not found")
	// ErrAlreadyRegistered: the ID-card number already has an account (in
	// any status, deleted included): one account per identity.
	ErrAlreadyRegistered = errors.New("account: identity already registered")
	// ErrBadRecoveryCode: the recovery code is malformed, unknown, already
	// used or replaced. Deliberately one error for all cases.
	ErrBadRecoveryCode = errors.New("account: bad recovery code")
)

// Status is the state of an account.
type Status string

// The account states (residents_status_check).
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusDeleted   Status = "deleted"
)

func (s Status) valid() bool {
	switch s {
	case StatusActive, StatusSuspended, StatusDeleted:
		return true
	}
	return false
}

// The assurance levels an account may carry (residents_assurance_level_check).
// They are idp/proofing's Level values as plain strings, so that this package
// does not depend on proofing.
const (
	levelSubstantial = "substantial"
	levelHigh        = "high"
)

func validLevel(level string) bool {
	return level == levelSubstantial || level == levelHigh
}

// Profile is the resident's record in the civil register, copied at
// registration. It is read-only here.
type Profile struct {
	IDNumber   string
	Surname    string
	GivenNames string
	NameZH     string // Chinese name; may be empty
	BirthDate  string // YYYY-MM-DD
	Gender     string // M, F or X as the register says
}

// Resident is an account.
type Resident struct {
	ID string // random, internal; never shown to relying parties
	Profile
	Level     string // assurance level: "substantial" or "high"
	Status    Status
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DisplayName returns the name to greet the resident with in lang (a BCP 47
// tag). For Chinese ("zh-Hant" and any other "zh" tag) it is the Chinese
// name when the register has one, else "GivenNames Surname"; for every other
// language it is "GivenNames SURNAME", the surname in capitals as on the
// identity card.
func (r Resident) DisplayName(lang string) string {
	if isChinese(lang) {
		if zh := strings.TrimSpace(r.NameZH); zh != "" {
			return zh
		}
		return joinName(r.GivenNames, r.Surname)
	}
	return joinName(r.GivenNames, strings.ToUpper(r.Surname))
}

func isChinese(lang string) bool {
	primary, _, _ := strings.Cut(lang, "-")
	return strings.EqualFold(primary, "zh")
}

func joinName(given, surname string) string {
	return strings.TrimSpace(strings.TrimSpace(given) + " " + strings.TrimSpace(surname))
}

// Store is the accounts store, on either engine.
type Store struct {
	db  *db.DB
	now func() time.Time
}

// NewStore returns the store on d, which must be migrated.
func NewStore(d *db.DB) *Store {
	return &Store{db: d, now: time.Now}
}

// timestamp returns the current time as the database keeps it: UTC,
// microseconds, so that what Create returns equals what Get reads.
func (s *Store) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// maxKeyLen bounds IDs and ID-card numbers taken from callers: longer input
// cannot match anything and is refused before it reaches the database.
const maxKeyLen = 128

const residentColumns = `id, id_number, surname, given_names, name_zh, birth_date, gender,
	assurance_level, status, created_at, updated_at`

// Create registers a resident with the profile from the civil register and
// the assurance level proofing established ("substantial" or "high"), and
// records a KindRegistered event in the same transaction. It returns
// ErrAlreadyRegistered if the ID-card number already has an account.
func (s *Store) Create(ctx context.Context, p Profile, level string) (Resident, error) {
	var r Resident
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = s.CreateTx(ctx, tx, secret.Random(16), p, level, nil)
		return err
	})
	switch {
	case db.IsUniqueViolation(err):
		// The only unique key a random 128-bit ID can collide on is id_number.
		return Resident{}, ErrAlreadyRegistered
	case err != nil:
		return Resident{}, fmt.Errorf("account: create: %w", err)
	}
	return r, nil
}

// CreateTx is Create in the caller's transaction tx and under the given
// account ID (Create draws a random 128-bit one; a synthetic population
// for load tests derives it from a seed, bench/seed). detail is added to
// the KindRegistered event. A duplicate ID-card number or ID is the
// database's unique violation (db.IsUniqueViolation).
func (s *Store) CreateTx(ctx context.Context, tx *sql.Tx, id string, p Profile, level string, detail map[string]string) (Resident, error) {
	if id == "" || len(id) > maxKeyLen {
		return Resident{}, fmt.Errorf("account: create: account ID empty or longer than %d bytes", maxKeyLen)
	}
	if p.IDNumber == "" || len(p.IDNumber) > maxKeyLen {
		return Resident{}, fmt.Errorf("account: create: ID number empty or longer than %d bytes", maxKeyLen)
	}
	if !validLevel(level) {
		return Resident{}, fmt.Errorf("account: create: unknown assurance level %q", level)
	}
	now := s.timestamp()
	r := Resident{ID: id, Profile: p, Level: level, Status: StatusActive, CreatedAt: now, UpdatedAt: now}
	if _, err := tx.ExecContext(ctx, `INSERT INTO residents (`+residentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.ID, p.IDNumber, p.Surname, p.GivenNames, p.NameZH, p.BirthDate, p.Gender,
		r.Level, string(r.Status), db.Timestamp{Time: now}, db.Timestamp{Time: now}); err != nil {
		return Resident{}, err
	}
	event := map[string]string{"level": level}
	for k, v := range detail {
		event[k] = v
	}
	if err := s.record(ctx, tx, r.ID, KindRegistered, event, now); err != nil {
		return Resident{}, err
	}
	return r, nil
}

// Get returns the resident with that ID, in any status, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Resident, error) {
	if id == "" || len(id) > maxKeyLen {
		return Resident{}, ErrNotFound
	}
	return s.getBy(ctx, "id", id)
}

// ByIDNumber returns the resident with that ID-card number, exactly as
// proofing normalised it, in any status, or ErrNotFound.
func (s *Store) ByIDNumber(ctx context.Context, idNumber string) (Resident, error) {
	if idNumber == "" || len(idNumber) > maxKeyLen {
		return Resident{}, ErrNotFound
	}
	return s.getBy(ctx, "id_number", idNumber)
}

// getBy reads one resident by a unique column (a constant, never input).
func (s *Store) getBy(ctx context.Context, column, value string) (Resident, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+residentColumns+` FROM residents WHERE `+column+` = $1`, value)
	r, err := scanResident(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Resident{}, ErrNotFound
	}
	if err != nil {
		return Resident{}, fmt.Errorf("account: read resident: %w", err)
	}
	return r, nil
}

func scanResident(row interface{ Scan(...any) error }) (Resident, error) {
	var (
		r                Resident
		status           string
		created, updated db.Timestamp
	)
	err := row.Scan(&r.ID, &r.IDNumber, &r.Surname, &r.GivenNames, &r.NameZH, &r.BirthDate, &r.Gender,
		&r.Level, &status, &created, &updated)
	r.Status, r.CreatedAt, r.UpdatedAt = Status(status), created.Time, updated.Time
	return r, err
}

// SetLevel changes the resident's assurance level — an operator raises it to
// "high" after attended proofing — and records a KindLevelChanged event with
// the old and new level in the same transaction. Setting the current level
// again changes and records nothing.
func (s *Store) SetLevel(ctx context.Context, id, level string) error {
	if !validLevel(level) {
		return fmt.Errorf("account: set level: unknown assurance level %q", level)
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT assurance_level FROM residents WHERE id = $1`, id).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || old == level {
			return err
		}
		now := s.timestamp()
		if _, err := tx.ExecContext(ctx, `UPDATE residents SET assurance_level = $1, updated_at = $2 WHERE id = $3`,
			level, db.Timestamp{Time: now}, id); err != nil {
			return err
		}
		return s.record(ctx, tx, id, KindLevelChanged, map[string]string{"from": old, "to": level}, now)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("account: set level: %w", err)
	}
	return err
}

// Delete removes the account and, by the database's cascades, everything
// that hangs on it: passkeys, sessions, recovery codes, the activity log,
// consents, grants and their tokens, vault rows. It returns ErrNotFound
// for an unknown ID. Callers end sessions first (so relying parties are
// told) and erase the vault (crypto-shredding): see idp/erasure.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM residents WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("account: delete: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("account: delete: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetStatus changes the account's status. It returns ErrNotFound for an
// unknown ID. Ending sessions of a suspended or deleted account is the
// caller's business (idp/session RevokeAll).
func (s *Store) SetStatus(ctx context.Context, id string, st Status) error {
	if !st.valid() {
		return fmt.Errorf("account: set status: unknown status %q", st)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE residents SET status = $1, updated_at = $2 WHERE id = $3`,
		string(st), db.Timestamp{Time: s.timestamp()}, id)
	if err != nil {
		return fmt.Errorf("account: set status: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("account: set status: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}
