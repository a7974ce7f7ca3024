package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"

	"eidp/hsm"
)

// dataKeySize is the size of a data key: AES-256.
const dataKeySize = 32

// Labels that start the associated data, so that a data-key wrap and an
// attribute seal can never be mistaken for each other.
const (
	wrapLabel = "eidp-vault-dek"
	attrLabel = "eidp-vault-attr"
)

// wrapAAD is the associated data of a wrapped data key (see doc.go).
func wrapAAD(residentID string, keyVersion int64) []byte {
	return []byte(wrapLabel + "|" + residentID + "|" + strconv.FormatInt(keyVersion, 10))
}

// attrAAD is the associated data of an attribute value: the length-prefixed
// fields of doc.go.
func attrAAD(residentID, name string, schemaVersion, keyVersion int64) []byte {
	b := make([]byte, 0, 5*4+len(attrLabel)+len(residentID)+len(name)+16)
	field := func(p []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	field([]byte(attrLabel))
	field([]byte(residentID))
	field([]byte(name))
	field(binary.BigEndian.AppendUint64(nil, uint64(schemaVersion)))
	field(binary.BigEndian.AppendUint64(nil, uint64(keyVersion)))
	return b
}

var errOpen = errors.New("vault: open failed")

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts value under key: nonce || ciphertext || tag, with a fresh
// random 96-bit nonce (doc.go says why random nonces are safe here).
func seal(key, value, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, hsm.GCMNonceSize, hsm.GCMNonceSize+len(value)+hsm.GCMTagSize)
	rand.Read(out) // never fails (crypto/rand, Go 1.24+)
	return gcm.Seal(out, out, value, aad), nil
}

// open decrypts what seal produced; any alteration of the bytes or the aad
// yields errOpen.
func open(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < hsm.GCMNonceSize+hsm.GCMTagSize {
		return nil, errOpen
	}
	plain, err := gcm.Open(nil, sealed[:hsm.GCMNonceSize], sealed[hsm.GCMNonceSize:], aad)
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}
