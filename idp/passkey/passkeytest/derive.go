package passkeytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
)

// Deterministic credentials: a seeded population of residents (bench/seed)
// and a load generator (bench/eidpflow) that never meet can agree on every
// resident's passkey by deriving it from one shared seed and the
// resident's index, without storing or shipping 10,000 private keys.

// DeriveCredential derives credential number index from seed: a 32-byte
// credential ID and a P-256 private key, both with HKDF-SHA256 (RFC 5869)
// keyed by seed, with the index in the info string. The same seed and index
// always give the same credential; different indexes or seeds give
// unrelated ones. The seed is a secret of the test or benchmark (whoever
// holds it can log in as every seeded resident); use 16 bytes or more.
func DeriveCredential(seed []byte, index int) (id []byte, key *ecdsa.PrivateKey) {
	idx := strconv.Itoa(index)
	id = derive(seed, "eidp passkeytest credential id "+idx, 32)
	// A scalar must be in [1, n-1] (SEC 1 §2.3.6); 32 HKDF bytes fall
	// outside with probability about 2^-32, and the next attempt is as
	// deterministic as the first.
	for attempt := 0; ; attempt++ {
		raw := derive(seed, "eidp passkeytest credential key "+idx+" "+strconv.Itoa(attempt), 32)
		if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw); err == nil {
			return id, k
		}
	}
}

func derive(seed []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, seed, nil, info, n)
	if err != nil {
		// Only for lengths beyond 255 × 32 bytes, which are not asked for.
		panic(fmt.Sprintf("passkeytest: hkdf: %v", err))
	}
	return out
}

// COSEPublicKey returns pub as the COSE_Key a server stores for a
// credential (WebAuthn L3 §6.5.1.1): kty EC2, alg ES256, crv P-256, x, y,
// in CTAP2 canonical CBOR — the bytes Create puts into the attested
// credential data. A seeding tool stores it for a credential made by
// DeriveCredential without running a registration ceremony.
func COSEPublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: only P-256 keys have an ES256 COSE form here", ErrUnsupportedAlgorithm)
	}
	return coseKey(pub)
}

// AddCredential gives the authenticator a credential made elsewhere (for
// instance by DeriveCredential) for rpID and the user handle the server
// stored with it (a discoverable credential, §6.2.2), so that Get answers
// with it. Its signature counter starts at 0 and behaves as the
// authenticator's CounterMode says. A credential with the same ID is
// replaced. The authenticator keeps the key and copies of id and
// userHandle.
func (a *Authenticator) AddCredential(id []byte, key *ecdsa.PrivateKey, userHandle []byte, rpID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.creds = slices.DeleteFunc(a.creds, func(c *credential) bool { return bytes.Equal(c.id, id) })
	a.creds = append(a.creds, &credential{id: slices.Clone(id), rpID: rpID, userHandle: slices.Clone(userHandle), key: key})
}
