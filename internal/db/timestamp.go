package db

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// Timestamp is a time.Time as every table stores it (see migrations): a
// BIGINT of Unix microseconds, UTC, the same on both engines. Pass it as a
// query argument and scan into it; use sql.Null[Timestamp] for a nullable
// column. Writing drops anything finer than a microsecond; reading returns
// UTC.
type Timestamp struct{ time.Time }

// Value implements driver.Valuer.
func (t Timestamp) Value() (driver.Value, error) {
	return t.UnixMicro(), nil
}

// Scan implements sql.Scanner.
func (t *Timestamp) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		t.Time = time.UnixMicro(v).UTC()
		return nil
	case nil:
		return fmt.Errorf("db: cannot scan NULL into Timestamp; use sql.Null[db.Timestamp]")
	default:
		return fmt.Errorf("db: cannot scan %T into Timestamp; timestamp columns are BIGINT Unix microseconds", src)
	}
}
