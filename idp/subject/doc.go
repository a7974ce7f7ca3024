// Package subject computes the "sub" a relying party sees for a resident.
//
// DESIGN.md, Principles, "Privacy by design": pairwise subject identifiers
// by default, and the internal resident ID is never shown to a relying party.
// OIDC Core 1.0 §8 defines the two subject types: "public" gives every client
// the same sub, "pairwise" a different sub to each sector, "so as not to
// enable Clients to correlate the End-User's activities without permission".
// Two departments, or a department and a bank, therefore cannot join their
// records on sub; a leak at one relying party says nothing at another.
//
// The sector (OIDC Core §8.1) is the host of the client's
// sector_identifier_uri when it registered one, else the host of its
// redirect URIs, which must then all share one host (SectorIdentifier).
// Clients of one organisation on several hosts register a
// sector_identifier_uri listing their redirect URIs, which
// ValidateSectorIdentifierURI fetches (through internal/fetch, SSRF-safe)
// and checks, so that no client can claim another organisation's sector and
// with it that organisation's subjects.
//
// Pairwise subjects follow the example calculation of OIDC Core §8.1 — the
// sector identifier, the local account ID and "a salt value that is kept
// secret by the Provider", hashed: sub = SHA-256(sector_identifier ||
// local_account_id || salt) — as a keyed MAC over an unambiguous encoding,
// so that the value is not reversible by anyone but us (§8.1):
//
//	sub = base64url(HMAC-SHA256(secret, "eidp pairwise v1" || 0x00 ||
//	                            len32(sector) || sector || len32(residentID) || residentID))
//
// where len32 is a 4-byte big-endian length, so no two (sector, resident)
// pairs can produce the same input, whatever bytes they hold. A MAC rather
// than a salted hash because the secret is the whole of the protection: the
// random resident IDs are not guessable today, but if resident IDs ever leak
// (a database copy, a log line, a support export), anyone holding one could
// compute a plain hash for every sector and link the resident across relying
// parties; without the secret they cannot. HMAC-SHA256 gives 32 bytes (43
// base64url characters, within the 255 ASCII characters OIDC Core §2 allows
// for sub). Public subjects (OIDC Core §8: "the same sub value to all
// Clients"), for clients an operator marks public, use the same MAC under
// another label, so they are stable and never the resident ID.
//
// The format and the secret are forever: subjects are what relying parties
// store as the resident's key, so changing either changes every subject at
// every relying party. The secret must be the same on every node (a
// configured value today; possibly a key role under hsm/keyring later) and
// must never be rotated; it is secret because with it and a resident ID
// anyone could link that resident across sectors.
package subject
