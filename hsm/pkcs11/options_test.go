package pkcs11

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withNewline := write("pin-newline", "4711-file\n")
	withCRLF := write("pin-crlf", "4711-crlf\r\n")
	bare := write("pin-bare", " 4711 spaces kept ")

	tests := []struct {
		name      string
		env, file string
		want      string
	}{
		{"the environment wins over the file", "4711-env", withNewline, "4711-env"},
		{"the environment alone", "4711-env", "", "4711-env"},
		{"a file's trailing newline is dropped", "", withNewline, "4711-file"},
		{"a file's trailing CRLF is dropped", "", withCRLF, "4711-crlf"},
		{"a file without newline is taken as is, spaces included", "", bare, " 4711 spaces kept "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadPIN(tc.env, tc.file)
			if err != nil || got != tc.want {
				t.Errorf("ReadPIN(%q, %q) = %q, %v; want %q", tc.env, tc.file, got, err, tc.want)
			}
		})
	}
}

func TestReadPINErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-pin")
	empty := filepath.Join(dir, "empty-pin")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		file   string
		target error
	}{
		{"no PIN at all", "", nil},
		{"a file that does not exist", missing, fs.ErrNotExist},
		// A directory cannot be read as a file, even by root.
		{"a file that cannot be read", dir, nil},
		{"an empty file", empty, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pin, err := ReadPIN("", tc.file)
			if err == nil {
				t.Fatalf("ReadPIN(\"\", %q) = %q, want an error", tc.file, pin)
			}
			if tc.file != "" && !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file %s", err, tc.file)
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("error %q does not wrap %v", err, tc.target)
			}
		})
	}
}

func TestOptionsNeverPrintThePIN(t *testing.T) {
	o := Options{Module: "/m.so", TokenLabel: "t", PIN: "pin-4711"}
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprintf("%s", o)} {
		if strings.Contains(s, "pin-4711") {
			t.Errorf("formatted Options %q contain the PIN", s)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Module: "/m.so", TokenLabel: "t"}.withDefaults()
	if err != nil || o.Sessions != DefaultSessions {
		t.Errorf("withDefaults() = %v, %v; want %d sessions", o, err, DefaultSessions)
	}
	for _, bad := range []Options{{TokenLabel: "t"}, {Module: "/m.so"}, {Module: "/m.so", TokenLabel: "t", Sessions: -1}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("withDefaults(%v) accepted", bad)
		}
	}
}
