package population

import (
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"eidp/idp/passkey/passkeytest"
)

// MinKeySeedBytes is the shortest key seed accepted: whoever holds the seed
// can log in as every resident of the population.
const MinKeySeedBytes = 16

// ErrKeySeed: the key seed is not hex, or shorter than MinKeySeedBytes.
var ErrKeySeed = errors.New("population: the key seed must be at least 16 bytes of hex (32 hex digits), e.g. from `openssl rand -hex 32`")

// ParseKeySeed reads a key seed given as hex (as on the command line).
func ParseKeySeed(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) < MinKeySeedBytes {
		return nil, ErrKeySeed
	}
	return b, nil
}

// Resident is seeded resident number Index as both sides derive it.
type Resident struct {
	Index int
	// ID is the resident's account ID (residents.id): 16 bytes of HKDF
	// output in base64url, the shape account.Store.Create gives random
	// IDs. It is also the user handle of the resident's passkey (WebAuthn
	// L3 §5.4.3 user.id), which a discoverable login must return.
	ID string
	// CredentialID and Key are the resident's passkey, from
	// passkeytest.DeriveCredential(keySeed, Index).
	CredentialID []byte
	Key          *ecdsa.PrivateKey
}

// Derive returns resident number index of the population of keySeed.
func Derive(keySeed []byte, index int) Resident {
	id, err := hkdf.Key(sha256.New, keySeed, nil, "eidp bench resident id "+strconv.Itoa(index), 16)
	if err != nil {
		panic(fmt.Sprintf("population: hkdf: %v", err)) // only for impossible lengths
	}
	credID, key := passkeytest.DeriveCredential(keySeed, index)
	return Resident{Index: index, ID: base64.RawURLEncoding.EncodeToString(id), CredentialID: credID, Key: key}
}
