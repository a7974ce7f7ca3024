package soft

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"eidp/hsm"
)

const (
	keyFileExt = ".key"
	// formatVersion is bound into every key file's additional data: a
	// future format gets a new version, and a file of one format can never
	// be mistaken for another.
	formatVersion = 1
	// idBytes is the size of a key id before hex encoding.
	idBytes = 16
	// aesKeySize is the size of AES-256 keys, and of the master key.
	aesKeySize = 32
)

// errNotAuthentic means a key file did not open under the master key: it was
// altered, or the master key is not the one it was sealed with. Open tells
// the two apart by looking at the other files.
var errNotAuthentic = errors.New("does not authenticate under the master key")

// keyRecord is the plaintext JSON sealed in a key file.
type keyRecord struct {
	Label     string        `json:"label"`
	Algorithm hsm.Algorithm `json:"algorithm"`
	CreatedAt time.Time     `json:"created_at"`
	// Material is the PKCS#8 DER private key (RFC 5208) for asymmetric
	// keys, the raw 32 key bytes for AES-256. JSON carries it as base64.
	Material []byte `json:"key"`
}

// keyFileAAD binds a sealed record to its key id and the format version
// (NIST SP 800-38D §5.2.1.1: additional authenticated data).
func keyFileAAD(id string) []byte {
	return fmt.Appendf(nil, "eidp hsm/soft key file v%d\x00%s", formatVersion, id)
}

func keyFileName(id string) string { return id + keyFileExt }

// newMasterAEAD returns AES-256-GCM under the master key with a random
// 96-bit nonce prepended to each sealed value, as every key file stores it.
func newMasterAEAD(masterKey []byte) (cipher.AEAD, error) {
	if len(masterKey) != aesKeySize {
		return nil, fmt.Errorf("soft: master key is %d bytes; it must be exactly %d", len(masterKey), aesKeySize)
	}
	return newRandomNonceGCM(masterKey)
}

// newRandomNonceGCM builds AES-GCM whose Seal output is
// nonce(12) || ciphertext || tag(16), the format hsm.KeyManager.Encrypt
// promises. Random 96-bit nonces are safe for far more messages than a
// development backend will ever seal under one key (NIST SP 800-38D §8.3).
func newRandomNonceGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("soft: AES key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("soft: AES-GCM: %w", err)
	}
	return aead, nil
}

// sealRecord serialises and seals a key record for the file of key id.
func sealRecord(master cipher.AEAD, id string, rec keyRecord) ([]byte, error) {
	plaintext, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("soft: encode key record: %w", err)
	}
	defer clear(plaintext)
	return master.Seal(nil, nil, plaintext, keyFileAAD(id)), nil
}

// openRecord reverses sealRecord. A failure to authenticate wraps
// errNotAuthentic; other errors describe a file that authenticated but does
// not hold a usable key.
func openRecord(master cipher.AEAD, id string, sealed []byte) (keyRecord, error) {
	if len(sealed) < master.Overhead() {
		return keyRecord{}, fmt.Errorf("file is %d bytes, shorter than nonce and tag: %w", len(sealed), errNotAuthentic)
	}
	plaintext, err := master.Open(nil, nil, sealed, keyFileAAD(id))
	if err != nil {
		return keyRecord{}, errNotAuthentic
	}
	defer clear(plaintext)
	var rec keyRecord
	if err := json.Unmarshal(plaintext, &rec); err != nil {
		return keyRecord{}, fmt.Errorf("decode key record: %w", err)
	}
	return rec, nil
}

// generate creates key material for alg in the form keyRecord stores.
func generate(alg hsm.Algorithm) ([]byte, error) {
	var (
		priv any
		err  error
	)
	switch alg {
	case hsm.ECP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case hsm.ECP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case hsm.RSA2048:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case hsm.RSA3072:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case hsm.Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case hsm.AES256:
		key := make([]byte, aesKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("soft: generate AES-256 key: %w", err)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("soft: %w: %q", hsm.ErrUnsupportedAlgorithm, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("soft: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("soft: encode %s key as PKCS#8: %w", alg, err)
	}
	return der, nil
}

// parseKey turns a record's material into a cached key, checking that the
// material is what the record's algorithm says.
func parseKey(id string, rec keyRecord) (*softKey, error) {
	k := &softKey{
		id: id,
		info: hsm.KeyInfo{
			URI:       formatURI(id, rec.Label),
			Label:     rec.Label,
			Algorithm: rec.Algorithm,
			CreatedAt: rec.CreatedAt,
		},
	}
	if rec.Algorithm == hsm.AES256 {
		if len(rec.Material) != aesKeySize {
			return nil, fmt.Errorf("AES-256 key is %d bytes", len(rec.Material))
		}
		aead, err := newRandomNonceGCM(rec.Material)
		if err != nil {
			return nil, err
		}
		k.aead = aead
		return k, nil
	}
	priv, err := x509.ParsePKCS8PrivateKey(rec.Material)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 %s key: %w", rec.Algorithm, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok || algorithmOf(signer.Public()) != rec.Algorithm {
		return nil, fmt.Errorf("key material (%T) is not an %s key", priv, rec.Algorithm)
	}
	k.signer = signer
	k.info.Public = signer.Public()
	return k, nil
}

// algorithmOf names the algorithm of a public key, or "" if it is none of ours.
func algorithmOf(pub crypto.PublicKey) hsm.Algorithm {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return hsm.ECP256
		case elliptic.P384():
			return hsm.ECP384
		}
	case *rsa.PublicKey:
		switch pub.N.BitLen() {
		case 2048:
			return hsm.RSA2048
		case 3072:
			return hsm.RSA3072
		}
	case ed25519.PublicKey:
		return hsm.Ed25519
	}
	return ""
}

// writeNewFile creates path with data and mode 0600, atomically: readers see
// either no file or the whole of it, even across a crash. The data goes to a
// temporary file in the same directory, is flushed to disk, then linked into
// place (which, unlike rename, never replaces an existing file), and the
// directory is flushed so the new name is durable too. If path already
// exists, the error wraps fs.ErrExist.
func writeNewFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	tmpName := tmp.Name()
	defer func() {
		// The temporary name is always removed: after a successful link
		// the data lives on under path.
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
			err = fmt.Errorf("remove temporary file: %w", rmErr)
		}
	}()
	if err := writeSyncClose(tmp, data); err != nil {
		return fmt.Errorf("write %s: %w", tmpName, err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: %w", path, os.ErrExist)
		}
		// Some file systems have no hard links; fall back to rename after
		// checking the name is free (a narrow race, acceptable for a
		// development backend).
		if _, statErr := os.Lstat(path); statErr == nil {
			return fmt.Errorf("%s: %w", path, os.ErrExist)
		}
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("move %s into place: %w", path, err)
		}
	}
	return syncDir(dir)
}

func writeSyncClose(f *os.File, data []byte) error {
	// os.CreateTemp already creates the file 0600; Chmod keeps that true
	// whatever the platform's default.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir flushes a directory so that names created or removed in it survive
// a crash (fsync(2) on the directory, as POSIX requires for renames).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
