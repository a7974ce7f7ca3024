package soft

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxMasterKeyFile bounds what LoadOrCreateMasterKey reads: a key is 64
// characters at most, plus whitespace.
const maxMasterKeyFile = 4096

// LoadOrCreateMasterKey returns the 32-byte master key that seals key files.
//
// If envValue is not empty it is the key, written as base64 (standard or URL
// alphabet, padded or not) or as 64 hex digits. Otherwise the key is read from
// the file at path, written the same way; the file must be accessible to its
// owner only. If that file does not exist, a random key is generated and
// written there with mode 0600 (its directory created with mode 0700), and
// created is true.
//
// Errors never contain the key or any part of it.
func LoadOrCreateMasterKey(envValue string, path string) (key []byte, created bool, err error) {
	if envValue != "" {
		key, err := parseMasterKey(envValue)
		if err != nil {
			return nil, false, fmt.Errorf("soft: master key from the environment: %w", err)
		}
		return key, false, nil
	}
	if path == "" {
		return nil, false, errors.New("soft: no master key: set it in the environment or give a master key file path")
	}
	key, err = readMasterKeyFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		return key, false, err
	}
	key, err = createMasterKeyFile(path)
	if errors.Is(err, os.ErrExist) {
		// Another process created it first: use theirs.
		key, err = readMasterKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// parseMasterKey decodes the text form of a master key.
func parseMasterKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("empty")
	}
	// 64 hex digits are also valid base64 (of 48 bytes), so try hex first.
	if len(text) == 2*aesKeySize {
		if key, err := hex.DecodeString(text); err == nil {
			return key, nil
		}
	}
	encodings := []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	}
	for _, enc := range encodings {
		key, err := enc.Strict().DecodeString(text)
		if err != nil {
			continue
		}
		if len(key) != aesKeySize {
			clear(key)
			return nil, fmt.Errorf("decodes to %d bytes; it must be %d bytes (44 base64 characters or 64 hex digits)", len(key), aesKeySize)
		}
		return key, nil
	}
	return nil, fmt.Errorf("%d characters that are neither base64 nor 64 hex digits; it must be %d bytes in one of those forms", len(text), aesKeySize)
}

// readMasterKeyFile reads and decodes a master key file, refusing one that
// others may read. A missing file gives an error wrapping os.ErrNotExist.
func readMasterKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("soft: master key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode of
	// the file read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("soft: master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("soft: master key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("soft: master key file %s has mode %04o, which lets other users read it; "+
			"make it private to its owner with: chmod 600 %s", path, perm, path)
	}
	text, err := io.ReadAll(io.LimitReader(f, maxMasterKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("soft: read master key file: %w", err)
	}
	defer clear(text)
	if len(text) > maxMasterKeyFile {
		return nil, fmt.Errorf("soft: master key file %s is larger than %d bytes; it should hold one key", path, maxMasterKeyFile)
	}
	key, err := parseMasterKey(string(text))
	if err != nil {
		return nil, fmt.Errorf("soft: master key file %s: %w", path, err)
	}
	return key, nil
}

// createMasterKeyFile generates a key and writes it, base64, to a new file.
// If the file appeared meanwhile the error wraps os.ErrExist.
func createMasterKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("soft: create master key directory: %w", err)
	}
	key := make([]byte, aesKeySize)
	rand.Read(key) // never fails (crypto/rand, Go ≥ 1.24)
	text := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	defer clear(text)
	if err := writeNewFile(path, text); err != nil {
		return nil, fmt.Errorf("soft: write master key file: %w", err)
	}
	return key, nil
}
