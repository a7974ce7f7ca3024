// Package db opens eidp's database — SQLite (embedded default) or PostgreSQL
// (production) — behind one *sql.DB, applies the schema in migrations/, and
// runs transactions that retry when the engine asks for it.
//
// Both engines are reached through database/sql (modernc.org/sqlite, pure Go;
// github.com/jackc/pgx/v5/stdlib) and are spoken to in one SQL subset that
// both run: $1, $2 … placeholders, INSERT … ON CONFLICT … DO UPDATE/NOTHING,
// RETURNING, partial indexes. Stores write that subset and nothing else, so
// one store conformance test covers both engines (see internal/testenv).
//
// # Transactions
//
// Use InTx for every read-modify-write. It gives the same guarantee on both
// engines — transactions behave as if run one after another — by running
// PostgreSQL transactions at SERIALIZABLE and SQLite ones as BEGIN IMMEDIATE,
// and it re-runs the function when the engine reports a serialization failure
// or a busy database.
//
// # Durability
//
// What the server acknowledged is durable: SQLite runs in WAL mode with
// synchronous=FULL (NORMAL would lose the last commits on power loss) and
// every SQLite connection of the pool carries the same pragmas. PostgreSQL's
// own defaults (synchronous_commit=on) already give that guarantee.
//
// # Schema
//
// Migrate applies the embedded migrations of the database's engine, each in
// one transaction with its schema_migrations row, and is safe to run from
// several nodes at once. A binary refuses a database whose schema is newer
// than the migrations it carries (ErrSchemaTooNew).
package db
