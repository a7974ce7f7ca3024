package soft_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eidp/hsm"
	"eidp/hsm/hsmtest"
	"eidp/hsm/soft"
)

func newMasterKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func open(t *testing.T, dir string, master []byte) *soft.Soft {
	t.Helper()
	s, err := soft.Open(t.Context(), soft.Options{Dir: dir, MasterKey: master})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	master := newMasterKey()
	// Named after the backend so that the test script can report which backends the suite ran on.
	t.Run("soft", func(t *testing.T) {
		hsmtest.Run(t, hsmtest.Harness{
			Open: func(t *testing.T) hsm.KeyManager { return open(t, dir, master) },
			OpenWithWrongCredential: func(t *testing.T) error {
				s, err := soft.Open(t.Context(), soft.Options{Dir: dir, MasterKey: newMasterKey()})
				if err == nil {
					s.Close()
				}
				return err
			},
		})
	})
}

func BenchmarkSign(b *testing.B) {
	s, err := soft.Open(b.Context(), soft.Options{Dir: b.TempDir(), MasterKey: newMasterKey()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	hsmtest.Bench(b, s)
}

func TestLoadOrCreateMasterKeyFromEnvironment(t *testing.T) {
	// 0xfb 0xff encodes to "+/" in standard base64 and "-_" in URL base64,
	// so each alphabet is really exercised.
	key := bytes.Repeat([]byte{0xfb, 0xff}, 16)
	valid := []struct {
		name, value string
	}{
		{"standard base64", base64.StdEncoding.EncodeToString(key)},
		{"standard base64 without padding", base64.RawStdEncoding.EncodeToString(key)},
		{"URL-safe base64", base64.URLEncoding.EncodeToString(key)},
		{"URL-safe base64 without padding", base64.RawURLEncoding.EncodeToString(key)},
		{"lowercase hex", hex.EncodeToString(key)},
		{"uppercase hex", strings.ToUpper(hex.EncodeToString(key))},
		{"base64 with a trailing newline", base64.StdEncoding.EncodeToString(key) + "\n"},
	}
	for _, tc := range valid {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			got, created, err := soft.LoadOrCreateMasterKey(tc.value, path)
			if err != nil {
				t.Fatalf("LoadOrCreateMasterKey: %v", err)
			}
			if !bytes.Equal(got, key) || created {
				t.Errorf("got key %x, created %v; want %x, false", got, created, key)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a key from the environment must not create a file: Stat: %v", err)
			}
		})
	}

	invalid := []struct {
		name, value, wantMsg string
	}{
		{"a 16-byte key", base64.StdEncoding.EncodeToString(key[:16]), "decodes to 16 bytes"},
		{"a 33-byte key", base64.StdEncoding.EncodeToString(append(key, 1)), "decodes to 33 bytes"},
		{"63 hex digits", hex.EncodeToString(key)[:63], "32 bytes"},
		{"a passphrase", "correct horse battery staple", "neither base64 nor 64 hex digits"},
		{"only whitespace", "  \n", "empty"},
	}
	for _, tc := range invalid {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, _, err := soft.LoadOrCreateMasterKey(tc.value, filepath.Join(t.TempDir(), "master.key"))
			if err == nil {
				t.Fatal("LoadOrCreateMasterKey accepted it")
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if v := strings.TrimSpace(tc.value); v != "" && strings.Contains(err.Error(), v) {
				t.Errorf("error %q repeats the secret value", err)
			}
		})
	}
}

func TestLoadOrCreateMasterKeyFile(t *testing.T) {
	t.Run("creates a private key file, then reads it back", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state", "secrets", "master.key")
		key, created, err := soft.LoadOrCreateMasterKey("", path)
		if err != nil || !created || len(key) != 32 {
			t.Fatalf("first call: %d-byte key, created %v, error %v; want a new 32-byte key", len(key), created, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("created directory mode %04o, want 0700", di.Mode().Perm())
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the key file (no temporary left)", len(entries))
		}

		again, created, err := soft.LoadOrCreateMasterKey("", path)
		if err != nil || created || !bytes.Equal(again, key) {
			t.Errorf("second call: created %v, error %v, same key %v; want the stored key", created, err, bytes.Equal(again, key))
		}
	})

	t.Run("reads a key written as hex", func(t *testing.T) {
		key := newMasterKey()
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, created, err := soft.LoadOrCreateMasterKey("", path)
		if err != nil || created || !bytes.Equal(got, key) {
			t.Errorf("got created %v, error %v, same key %v", created, err, bytes.Equal(got, key))
		}
	})

	t.Run("refuses a file others may read", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(newMasterKey())), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := soft.LoadOrCreateMasterKey("", path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("error %v; want one telling to chmod 600 %s", err, path)
		}
	})

	t.Run("refuses a file holding a short key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte(hex.EncodeToString(newMasterKey()[:16])), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := soft.LoadOrCreateMasterKey("", path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("error %v; want one naming %s", err, path)
		}
	})

	t.Run("needs either a value or a path", func(t *testing.T) {
		if _, _, err := soft.LoadOrCreateMasterKey("", ""); err == nil {
			t.Error("no error without value and path")
		}
	})
}

func TestOpen(t *testing.T) {
	t.Run("refuses a master key that is not 32 bytes", func(t *testing.T) {
		_, err := soft.Open(t.Context(), soft.Options{Dir: t.TempDir(), MasterKey: make([]byte, 16)})
		if err == nil {
			t.Error("Open accepted a 16-byte master key")
		}
	})

	t.Run("opens a directory without keys under any master key", func(t *testing.T) {
		dir := t.TempDir()
		open(t, dir, newMasterKey()).Close()
		open(t, dir, newMasterKey()).Close()
	})

	t.Run("says a wrong master key does not match the keys", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir, newMasterKey())
		if _, err := s.CreateKey(t.Context(), "k", hsm.ECP256); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err := soft.Open(t.Context(), soft.Options{Dir: dir, MasterKey: newMasterKey()})
		if !errors.Is(err, hsm.ErrAuth) || !strings.Contains(err.Error(), "master key does not match") {
			t.Errorf("Open with another master key: %v; want ErrAuth saying the master key does not match", err)
		}
	})
}

// keyFiles returns the paths of the key files in dir.
func keyFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.key"))
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestKeyFiles(t *testing.T) {
	// setup creates two keys and returns the directory, the master key and
	// the file of the AES key.
	setup := func(t *testing.T) (dir string, master []byte, aesFile string) {
		dir, master = t.TempDir(), newMasterKey()
		s := open(t, dir, master)
		defer s.Close()
		if _, err := s.CreateKey(t.Context(), "signing", hsm.ECP256); err != nil {
			t.Fatal(err)
		}
		info, err := s.CreateKey(t.Context(), "secret label", hsm.AES256)
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimPrefix(strings.Split(info.URI, ";")[0], "soft:id=")
		return dir, master, filepath.Join(dir, id+".key")
	}

	t.Run("are private, named by id and reveal nothing", func(t *testing.T) {
		dir, _, aesFile := setup(t)
		paths := keyFiles(t, dir)
		if len(paths) != 2 {
			t.Fatalf("%d key files, want 2: %v", len(paths), paths)
		}
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %04o, want 0600", p, fi.Mode().Perm())
			}
			if name := filepath.Base(p); len(name) != len("0123456789abcdef0123456789abcdef.key") {
				t.Errorf("%s: not named <32 hex digits>.key", name)
			}
		}
		data, err := os.ReadFile(aesFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"secret label", "AES-256", "label"} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("key file contains %q in clear", secret)
			}
		}
	})

	t.Run("a tampered file is named in the error", func(t *testing.T) {
		dir, master, aesFile := setup(t)
		data, err := os.ReadFile(aesFile)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x01
		if err := os.WriteFile(aesFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = soft.Open(t.Context(), soft.Options{Dir: dir, MasterKey: master})
		if err == nil || !strings.Contains(err.Error(), aesFile) {
			t.Fatalf("Open: %v; want an error naming %s", err, aesFile)
		}
		if errors.Is(err, hsm.ErrAuth) {
			t.Errorf("Open: %v: the master key opens the other file, so this is no authentication failure", err)
		}
	})

	t.Run("a file renamed to another id does not open", func(t *testing.T) {
		dir, master, aesFile := setup(t)
		renamed := filepath.Join(dir, strings.Repeat("ab", 16)+".key")
		if err := os.Rename(aesFile, renamed); err != nil {
			t.Fatal(err)
		}
		_, err := soft.Open(t.Context(), soft.Options{Dir: dir, MasterKey: master})
		if err == nil || !strings.Contains(err.Error(), renamed) {
			t.Fatalf("Open: %v; want an error naming %s", err, renamed)
		}
	})

	t.Run("a truncated file is named in the error", func(t *testing.T) {
		dir, master, aesFile := setup(t)
		if err := os.WriteFile(aesFile, []byte("short"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := soft.Open(t.Context(), soft.Options{Dir: dir, MasterKey: master})
		if err == nil || !strings.Contains(err.Error(), aesFile) {
			t.Fatalf("Open: %v; want an error naming %s", err, aesFile)
		}
	})

	t.Run("stray files are ignored", func(t *testing.T) {
		dir, master, _ := setup(t)
		for _, name := range []string{"README", "backup.key", ".0123.key.tmp-1"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := open(t, dir, master)
		defer s.Close()
		list, err := s.List(t.Context())
		if err != nil || len(list) != 2 {
			t.Errorf("List: %d keys, error %v; want the 2 keys", len(list), err)
		}
	})
}

func TestURILookup(t *testing.T) {
	s := open(t, t.TempDir(), newMasterKey())
	defer s.Close()
	ctx := t.Context()
	label := "odd label; with=signs %, slashes/ and ünïcode"
	info, err := s.CreateKey(ctx, label, hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.URI, "soft:id=") || strings.ContainsAny(info.URI[len("soft:"):], " /ü") {
		t.Errorf("URI %q is not soft:id=<hex>;object=<percent-encoded label>", info.URI)
	}
	idOnly := strings.Split(info.URI, ";")[0]

	t.Run("finds a key by id alone", func(t *testing.T) {
		got, err := s.Key(ctx, idOnly)
		if err != nil || got.Label != label {
			t.Errorf("Key(%s): label %q, error %v", idOnly, got.Label, err)
		}
	})
	t.Run("does not find a key whose label differs from the URI's object", func(t *testing.T) {
		_, err := s.Key(ctx, idOnly+";object=another")
		if !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Errorf("Key: %v; want ErrKeyNotFound", err)
		}
	})
	t.Run("rejects a label that is empty or not UTF-8", func(t *testing.T) {
		for _, l := range []string{"", "\xff\xfe"} {
			if info, err := s.CreateKey(ctx, l, hsm.AES256); err == nil {
				t.Errorf("CreateKey(%q) succeeded: %s", l, info.URI)
			}
		}
	})
}

func TestSharedDirectory(t *testing.T) {
	dir, master := t.TempDir(), newMasterKey()
	ctx := t.Context()
	server := open(t, dir, master)
	defer server.Close()
	// A second instance on the same directory, as a command-line tool
	// creating a key while the server runs.
	cli := open(t, dir, master)
	defer cli.Close()

	info, err := cli.CreateKey(ctx, "created by the CLI", hsm.AES256)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := server.Encrypt(ctx, info.URI, []byte("x"), nil)
	if err != nil {
		t.Fatalf("the server does not find a key created after it opened: %v", err)
	}
	if _, err := cli.Decrypt(ctx, info.URI, sealed, nil); err != nil {
		t.Fatalf("Decrypt: %v", err)
	}

	if err := cli.Destroy(ctx, info.URI); err != nil {
		t.Fatal(err)
	}
	list, err := server.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("List after another instance destroyed the only key: %d keys", len(list))
	}
	_, err = server.Decrypt(ctx, info.URI, sealed, nil)
	if !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("Decrypt after List saw the key gone: %v; want ErrKeyNotFound", err)
	}
}
