// Package population derives the residents of a seeded benchmark
// population from a key seed and an index: the resident's account ID and
// the passkey (credential ID and P-256 key) the seeding command stores and
// the load generator signs with. Both sides compute the same values
// independently, so 10,000 private keys are never written down or shipped;
// the seed is the one secret they share.
//
// Keys and IDs come from HKDF-SHA256 (RFC 5869) keyed by the seed, the
// index in the info string (passkeytest.DeriveCredential for the passkey).
// The package is pure — no database, no HTTP — so the load generator can
// import it without the server.
package population
