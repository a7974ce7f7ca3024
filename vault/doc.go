// Package vault is the encrypted store of residents' personal data: the
// attributes (address, phone, …) that relying parties may receive with the
// resident's consent. No value is ever stored in the clear.
//
// # Keys (envelope encryption)
//
// Each resident has one data key: 256 random bits, used with AES-256-GCM
// (NIST SP 800-38D) in this process. The data key is stored only wrapped
// (AES-256-GCM inside the key backend, hsm.KeyManager.Encrypt) by a
// key-encryption key of role vault-kek (hsm/keyring), with the associated
// data
//
//	"eidp-vault-dek|" + residentID + "|" + decimal(key_version)
//
// so that a wrapped key copied to another resident, or to another key
// version, does not unwrap. The version is the text after the last "|",
// which makes the encoding unambiguous whatever the resident ID holds.
//
// Each attribute value is sealed under the data key as nonce || ciphertext
// || tag with the associated data
//
//	field("eidp-vault-attr") || field(residentID) || field(name) ||
//	field(uint64be(schema_version)) || field(uint64be(key_version))
//
// where field(b) is the 4-byte big-endian length of b followed by b. The
// length prefixes make the encoding injective: no two different tuples give
// the same bytes. A ciphertext moved to another resident, to another
// attribute, or relabelled with another schema or key version therefore
// fails to authenticate (ErrDecrypt) instead of being read as someone
// else's data.
//
// Nonces are 96 random bits per encryption. SP 800-38D §8.3 allows random
// nonces for up to 2^32 encryptions under one key; a data key seals one
// resident's attributes — tens of attributes, a few writes each, and one
// re-encryption per data-key rotation — many orders of magnitude below. The
// vault-kek key seals one data key per creation, rotation or rewrap: even for
// millions of residents, far below 2^32 between KEK rotations.
//
// # Rotation and erasure
//
// KEK rotation (RewrapKeys, after keyring.RotateNow on vault-kek) unwraps and
// rewraps data keys, online and resumably, one row at a time; attribute
// ciphertexts are never touched. Data-key rotation (RotateDataKey) gives one
// resident a new data key and re-encrypts that resident's attributes, in one
// transaction.
//
// Erase is crypto-shredding (GDPR art. 17): it deletes the resident's data
// key with the attributes and records the erasure, so that reads answer
// ErrErased rather than "empty". Copies of the ciphertexts in database
// backups stay readable only as long as the backup's wrapped data key can
// still be unwrapped: a backup holds the wrapped key too, so backups are
// shredded once the vault-kek key that wrapped their data keys is destroyed
// (rotate the KEK, rewrap, then destroy the old key in the backend).
//
// # Memory
//
// Unwrapped data keys are cached per resident for a short time (Options.
// CacheTTL, LRU-bounded by Options.CacheSize) so that reads do not call the
// HSM each time. A key leaving the cache — expired, pushed out, erased or
// rotated — is overwritten with zeros. Callers get a private copy, zeroed
// after use. Go's crypto/aes keeps its expanded key schedule in memory it
// does not let us clear; it becomes garbage after each operation. Keys and
// values are never logged and never appear in errors.
//
// # Concurrency
//
// Writes are optimistic: a write names the version it read (Put,
// Delete), and a stale version yields ErrConflict instead of a lost update.
// The first write for a resident creates the data key race-free (INSERT …
// ON CONFLICT DO NOTHING, then read back: one key wins).
//
// Values are opaque JSON here; vault/attr validates them, and
// vault/accesslog records their release.
package vault
