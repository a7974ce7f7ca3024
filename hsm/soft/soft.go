package soft

import (
	"cmp"
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"eidp/hsm"
)

var _ hsm.KeyManager = (*Soft)(nil)

// maxLabelLen bounds labels; they are names like "oidc-signing-20261129".
const maxLabelLen = 256

// Options configures Open.
type Options struct {
	// Dir holds the key files. It is created (mode 0700) if missing.
	Dir string
	// MasterKey is the 32-byte AES-256 key that seals every key file; see
	// LoadOrCreateMasterKey.
	MasterKey []byte
}

// Soft is a KeyManager keeping keys in files sealed under a master key. Keys
// are decrypted and parsed once, then served from memory. It is safe for
// concurrent use.
//
// The directory is meant to be used by one process at a time; keys another
// process creates meanwhile are found on first use (and by List), not
// earlier.
type Soft struct {
	dir    string
	master cipher.AEAD
	closed atomic.Bool

	// mu guards keys. Lookups of cached keys take the read lock; signing
	// with a Signer takes no lock at all.
	mu   sync.RWMutex
	keys map[string]*softKey // by id
}

// softKey is a key decrypted into memory.
type softKey struct {
	id   string
	info hsm.KeyInfo
	// Exactly one of signer and aead is set.
	signer crypto.Signer
	aead   cipher.AEAD
	// destroyed stops signers handed out before Destroy.
	destroyed atomic.Bool
}

// Open opens (creating if needed) the key directory and decrypts every key
// in it. If keys exist and none opens under opts.MasterKey, the error wraps
// hsm.ErrAuth; if some open and others do not, it names the files that are
// corrupt or were altered.
func Open(ctx context.Context, opts Options) (*Soft, error) {
	if opts.Dir == "" {
		return nil, errors.New("soft: no key directory given")
	}
	master, err := newMasterAEAD(opts.MasterKey)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("soft: create key directory: %w", err)
	}
	s := &Soft{dir: opts.Dir, master: master, keys: make(map[string]*softKey)}
	if err := s.loadAll(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// loadAll decrypts every key file into the cache, telling a wrong master key
// (no file opens) from altered files (others open).
func (s *Soft) loadAll(ctx context.Context) error {
	ids, err := s.keyIDs()
	if err != nil {
		return err
	}
	var notAuthentic []string
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("soft: open: %w", err)
		}
		k, err := s.readKey(id)
		if errors.Is(err, errNotAuthentic) {
			notAuthentic = append(notAuthentic, s.path(id))
			continue
		}
		if err != nil {
			return err
		}
		s.keys[id] = k
	}
	switch {
	case len(notAuthentic) == 0:
		return nil
	case len(s.keys) == 0:
		return fmt.Errorf("soft: the master key does not match the one the keys in %s were sealed with "+
			"(none of its %d key files opens, for example %s); use the master key they were created with: %w",
			s.dir, len(notAuthentic), notAuthentic[0], hsm.ErrAuth)
	default:
		return fmt.Errorf("soft: key files corrupt or altered: %s %s, though the master key opens the %d other key files in %s",
			strings.Join(notAuthentic, ", "), errNotAuthentic, len(s.keys), s.dir)
	}
}

// keyIDs lists the ids of the key files in the directory. Files not named
// like a key file (including temporary files) are ignored.
func (s *Soft) keyIDs() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("soft: read key directory: %w", err)
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), keyFileExt)
		if ok && e.Type().IsRegular() && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (s *Soft) path(id string) string { return filepath.Join(s.dir, keyFileName(id)) }

// readKey reads, decrypts and parses the file of key id. Every error names
// the file; a missing file wraps hsm.ErrKeyNotFound, one that does not
// authenticate wraps errNotAuthentic.
func (s *Soft) readKey(id string) (*softKey, error) {
	path := s.path(id)
	sealed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("soft: %w: no key file %s", hsm.ErrKeyNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("soft: read key file: %w", err)
	}
	rec, err := openRecord(s.master, id, sealed)
	if err != nil {
		return nil, fmt.Errorf("soft: key file %s: %w", path, err)
	}
	defer clear(rec.Material)
	k, err := parseKey(id, rec)
	if err != nil {
		return nil, fmt.Errorf("soft: key file %s: %w", path, err)
	}
	return k, nil
}

// lookup finds the key a URI names, in the cache or else on disk.
func (s *Soft) lookup(ctx context.Context, uri string) (*softKey, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ku, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	k, ok := s.keys[ku.id]
	s.mu.RUnlock()
	if !ok {
		if k, err = s.loadMissing(ku.id); err != nil {
			return nil, err
		}
	}
	// RFC 7512 semantics: every attribute in the URI must match.
	if ku.hasLabel && ku.label != k.info.Label {
		return nil, fmt.Errorf("soft: %w: key %s is labelled %q, not %q", hsm.ErrKeyNotFound, ku.id, k.info.Label, ku.label)
	}
	return k, nil
}

// loadMissing loads a key not in the cache (created by another process since
// Open). It holds the write lock so that a concurrent Destroy cannot be
// undone by a load that read the file just before it was removed.
func (s *Soft) loadMissing(id string) (*softKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, hsm.ErrClosed
	}
	if k, ok := s.keys[id]; ok {
		return k, nil
	}
	k, err := s.readKey(id)
	if err != nil {
		return nil, err
	}
	s.keys[id] = k
	return k, nil
}

// check returns the error that stops any operation: a closed backend or a
// finished context.
func (s *Soft) check(ctx context.Context) error {
	if s.closed.Load() {
		return hsm.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("soft: %w", err)
	}
	return nil
}

// CreateKey generates a key, seals it into a new file and caches it.
func (s *Soft) CreateKey(ctx context.Context, label string, alg hsm.Algorithm) (hsm.KeyInfo, error) {
	if err := s.check(ctx); err != nil {
		return hsm.KeyInfo{}, err
	}
	if !slices.Contains(hsm.AllAlgorithms, alg) {
		return hsm.KeyInfo{}, fmt.Errorf("soft: %w: %q", hsm.ErrUnsupportedAlgorithm, alg)
	}
	if err := validateLabel(label); err != nil {
		return hsm.KeyInfo{}, err
	}
	material, err := generate(alg)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	defer clear(material)
	id := newID()
	rec := keyRecord{Label: label, Algorithm: alg, CreatedAt: time.Now().UTC(), Material: material}
	k, err := parseKey(id, rec)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("soft: new %s key: %w", alg, err)
	}
	sealed, err := sealRecord(s.master, id, rec)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	if err := writeNewFile(s.path(id), sealed); err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("soft: store new key: %w", err)
	}
	s.mu.Lock()
	if !s.closed.Load() {
		s.keys[id] = k
	}
	s.mu.Unlock()
	return k.info, nil
}

func newID() string {
	b := make([]byte, idBytes)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(b)
}

func validateLabel(label string) error {
	switch {
	case label == "":
		return errors.New("soft: a key needs a label")
	case len(label) > maxLabelLen:
		return fmt.Errorf("soft: label is %d bytes; at most %d allowed", len(label), maxLabelLen)
	case !utf8.ValidString(label):
		return errors.New("soft: label is not valid UTF-8")
	}
	return nil
}

// Key describes the key at uri.
func (s *Soft) Key(ctx context.Context, uri string) (hsm.KeyInfo, error) {
	k, err := s.lookup(ctx, uri)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return k.info, nil
}

// Signer returns a signer for the asymmetric key at uri.
func (s *Soft) Signer(ctx context.Context, uri string) (hsm.Signer, error) {
	k, err := s.lookup(ctx, uri)
	if err != nil {
		return nil, err
	}
	if k.signer == nil {
		return nil, fmt.Errorf("soft: %w: %s is an %s key, which cannot sign", hsm.ErrWrongKeyType, k.info.URI, k.info.Algorithm)
	}
	return &signer{s: s, k: k}, nil
}

// Encrypt seals plaintext with the AES-256 key at uri: nonce || ciphertext || tag.
func (s *Soft) Encrypt(ctx context.Context, uri string, plaintext, aad []byte) ([]byte, error) {
	k, err := s.aesKey(ctx, uri, "encrypt")
	if err != nil {
		return nil, err
	}
	return k.aead.Seal(nil, nil, plaintext, aad), nil
}

// Decrypt opens what Encrypt sealed; any alteration yields hsm.ErrDecrypt.
func (s *Soft) Decrypt(ctx context.Context, uri string, sealed, aad []byte) ([]byte, error) {
	k, err := s.aesKey(ctx, uri, "decrypt")
	if err != nil {
		return nil, err
	}
	if len(sealed) < hsm.GCMNonceSize+hsm.GCMTagSize {
		return nil, fmt.Errorf("soft: %w (sealed data is %d bytes, shorter than nonce and tag)", hsm.ErrDecrypt, len(sealed))
	}
	plaintext, err := k.aead.Open(nil, nil, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("soft: %w", hsm.ErrDecrypt)
	}
	return plaintext, nil
}

func (s *Soft) aesKey(ctx context.Context, uri, op string) (*softKey, error) {
	k, err := s.lookup(ctx, uri)
	if err != nil {
		return nil, err
	}
	if k.aead == nil {
		return nil, fmt.Errorf("soft: %w: %s is an %s key; only AES-256 keys %s", hsm.ErrWrongKeyType, k.info.URI, k.info.Algorithm, op)
	}
	return k, nil
}

// List returns every key in the directory, oldest first. It rereads the
// directory, so it also reflects keys other processes created or destroyed.
func (s *Soft) List(ctx context.Context) ([]hsm.KeyInfo, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ids, err := s.keyIDs()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, hsm.ErrClosed
	}
	onDisk := make(map[string]bool, len(ids))
	for _, id := range ids {
		onDisk[id] = true
		if _, ok := s.keys[id]; ok {
			continue
		}
		k, err := s.readKey(id)
		if errors.Is(err, hsm.ErrKeyNotFound) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, err
		}
		s.keys[id] = k
	}
	infos := make([]hsm.KeyInfo, 0, len(s.keys))
	for id, k := range s.keys {
		if !onDisk[id] {
			k.destroyed.Store(true)
			delete(s.keys, id)
			continue
		}
		infos = append(infos, k.info)
	}
	slices.SortFunc(infos, func(a, b hsm.KeyInfo) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.URI, b.URI))
	})
	return infos, nil
}

// Destroy removes the key's file and forgets the key; signers already handed
// out for it stop working. The removal is not a secure erase: a copy of the
// file (a backup, a snapshot) still opens under the master key.
func (s *Soft) Destroy(ctx context.Context, uri string) error {
	k, err := s.lookup(ctx, uri)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return hsm.ErrClosed
	}
	if s.keys[k.id] != k {
		return fmt.Errorf("soft: %w: %s (destroyed meanwhile)", hsm.ErrKeyNotFound, uri)
	}
	if err := os.Remove(s.path(k.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("soft: destroy key: %w", err)
	}
	k.destroyed.Store(true)
	delete(s.keys, k.id)
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("soft: destroy key: %w", err)
	}
	return nil
}

// Capabilities lists every algorithm: software has them all.
func (s *Soft) Capabilities() []hsm.Algorithm { return slices.Clone(hsm.AllAlgorithms) }

// Name is "soft".
func (s *Soft) Name() string { return "soft" }

// Close forgets the decrypted keys; later calls, including signatures by
// signers handed out before, return hsm.ErrClosed. Closing twice is harmless.
func (s *Soft) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed.Store(true)
	s.keys = nil
	return nil
}
