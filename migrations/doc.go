// Package migrations holds eidp's database schema as numbered SQL files, one
// directory per engine (postgres/, sqlite/), embedded into the binary and
// applied by internal/db at start or by `eidp migrate`.
//
// # Files
//
// Each file is named NNNN_name.sql (four digits, then lower-case letters,
// digits and underscores). Versions start at 0001 and have no gaps. Files are
// append-only: once released, a migration is never edited; a change is a new
// file. Both engine directories carry the same versions with the same names
// and describe the same tables, so that every store runs on either engine.
// Each file runs in one transaction together with its schema_migrations row,
// so it must not contain BEGIN/COMMIT or statements that refuse to run in a
// transaction (CREATE INDEX CONCURRENTLY, VACUUM).
//
// # Conventions every table follows
//
// Timestamps are BIGINT (INTEGER on SQLite) holding Unix time in microseconds,
// UTC. The same integer on both engines compares, sorts and indexes the same
// way, has the same precision (PostgreSQL's own resolution is a microsecond),
// and carries no time zone to get wrong. Go code writes and scans them with
// db.Timestamp (sql.Null[db.Timestamp] for nullable columns), or with
// time.Time.UnixMicro and time.UnixMicro. Columns are named *_at.
//
// Type mapping, PostgreSQL → SQLite: TEXT → TEXT, BIGINT/INTEGER → INTEGER,
// BYTEA → BLOB, BOOLEAN → INTEGER CHECK (x IN (0, 1)). SQLite tables are
// declared STRICT so that a value of the wrong type is rejected as PostgreSQL
// would reject it, and every SQLite primary key is also NOT NULL (without it
// SQLite accepts NULL keys in a non-INTEGER primary key).
//
// Constraint and index names are <table>_<what>, the same on both engines.
package migrations
