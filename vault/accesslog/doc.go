// Package accesslog is the vault's access log: every release of a
// resident's vault data to a relying party appends one entry — when, to
// which client (its ID and the name the resident saw), which attributes
// (names, never values), under which consent record, for which request —
// to that resident's chain. The account page shows the log in plain words
// ("Transport Department read your address on 3 March at 10:14"), which is
// how a resident learns who received their data (the "recipients" of GDPR
// Art. 15(1)(c)). The log holds no personal value and outlives the account
// (idp/erasure keeps it), under the resident's opaque internal ID.
//
// # The chain
//
// Entries of one resident are numbered 1, 2, 3 … (seq). Each entry stores
// prev_hash, the hash of the entry before it ("" for entry 1), and hash,
// the hash of its own content including prev_hash. The head row of the
// resident (vault_access_heads) names the last seq and its hash and is
// moved in the same transaction as each append, so that removing the newest
// entries is detected too. Verify and VerifyAll (and `eidp vault
// verify-log`) recompute every chain and report, per resident and entry: a
// gap in the seqs (an entry removed), a hash that does not match the
// entry's content (an entry altered), a prev_hash that does not match the
// previous entry's hash (an entry replaced), and a head that does not match
// the last entry (the newest entries removed, or the head itself edited).
//
// # The hash
//
// hash is the lowercase hex SHA-256 (FIPS 180-4) of this byte string, so
// that an auditor can re-implement it from the tables alone:
//
//	field("eidp-accesslog-v1")
//	field(resident_id)
//	u64(seq)
//	u64(at)                      Unix microseconds, as stored
//	field(client_id)
//	field(client_name)
//	u64(n)                       the number of attributes
//	field(attribute_1) … field(attribute_n)
//	                             in the order of the stored JSON array
//	                             (sorted by byte value when appended)
//	field(consent)
//	field(request_id)
//	field(prev_hash)             the hex text, "" for entry 1
//
// where u64(x) is x as 8 bytes, big-endian (two's complement for at) and
// field(s) is u64(the length of s in bytes) followed by the UTF-8 bytes of
// s. Every field is length-prefixed, so no two different entries encode to
// the same bytes. Vector: resident_id "r-0001", seq 2, at 1740968040000000
// (2025-03-03T02:14:00Z), client_id "td-licensing", client_name "Transport
// Department", attributes ["address", "family_name"], consent
// "consent-42", request_id "req-7", prev_hash "00" give
// 4fa2bb737fe3d1c7a3a565a231d75333c84dc622c249786d1811a35311615e06.
//
// # What the chain proves, and what it does not
//
// It makes the log tamper-evident against changes that do not recompute the
// chain: editing, deleting, inserting or moving an entry with SQL, restoring
// an older copy of some rows, or deleting the newest entries without also
// rewriting the head. It does not stop an attacker with write access to the
// database who recomputes every hash after the change and rewrites the head
// (the hash has no key, and the head lives in the same database): such a
// rewrite verifies. Anchoring the heads outside the database — publishing
// them to a transparency log in the manner of RFC 6962 / RFC 9162 Merkle
// trees, on the roadmap — is future work; until then the chain proves
// integrity against accidents and against edits by someone who does not
// know or bother to re-hash, not against a determined database
// administrator.
//
// Append refuses to extend a chain whose head is missing or does not match
// its newest entry (ErrTampered), because extending it would re-create a
// consistent head over a truncated chain. Callers release nothing they
// could not log.
//
// Tables: vault_access_log, vault_access_heads (migrations/*/0007_vault.sql).
package accesslog
