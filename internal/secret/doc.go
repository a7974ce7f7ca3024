// Package secret makes the random values eidp hands out — session cookies,
// authorization codes, refresh tokens, client secrets, request and row IDs
// — and hashes the ones it stores only as a hash.
//
// Values are n bytes from crypto/rand, base64url without padding (RFC 4648
// §5): 32 bytes (256 bits) for bearer secrets, 16 for identifiers. Stored
// hashes are hex SHA-256: the values are high-entropy, so a fast hash is
// enough (DESIGN.md, Storage) — no salt or key stretching buys anything.
package secret
