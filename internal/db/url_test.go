package db_test

import (
	"errors"
	"strings"
	"testing"

	"eidp/internal/db"
)

const secret = "hunter2-S3cret"

func TestOpenRejectsURLsItDoesNotUnderstand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
		wantInMsg string
	}{
		{"an empty URL", "", `"sqlite:PATH"`},
		{"another engine", "mysql://eidp:" + secret + "@localhost/eidp", `"postgres://USER@HOST/DB"`},
		{"a bare file name", "eidp.db", `"sqlite:PATH"`},
		{"a SQLite URI without the sqlite: prefix", "file:eidp.db", `"sqlite:PATH"`},
		{"sqlite: without a path", "sqlite:", "no file path"},
		{"an in-memory SQLite database", "sqlite::memory:", "in-memory"},
		{"sqlite:// with a host part", "sqlite://data/eidp.db", "without \"//\""},
		{"a PostgreSQL URL that does not parse", "postgres://eidp:" + secret + "@[::1/eidp", "postgres://"},
		{"a PostgreSQL URL pgx rejects", "postgresql://eidp:" + secret + "@localhost/eidp?sslmode=sometimes", "sslmode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := db.Open(testCtx(t), tt.url, db.Options{})
			if err == nil {
				d.Close()
				t.Fatalf("Open(%q) succeeded, want ErrBadURL", tt.url)
			}
			if !errors.Is(err, db.ErrBadURL) {
				t.Fatalf("Open(%q) = %v, want ErrBadURL", tt.url, err)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantInMsg)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestOpenUnreachablePostgresReportsCauseWithoutPassword(t *testing.T) {
	t.Parallel()
	noServer := t.TempDir() // a socket directory with no server in it
	tests := []struct{ name, url string }{
		{"password in userinfo, unix socket", "postgres://eidp:" + secret + "@/eidp?host=" + noServer},
		{"password as parameter, unix socket", "postgresql:///eidp?user=eidp&password=" + secret + "&host=" + noServer},
		{"password in userinfo, closed TCP port", "postgres://eidp:" + secret + "@127.0.0.1:1/eidp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := db.Open(testCtx(t), tt.url, db.Options{})
			if err == nil {
				d.Close()
				t.Fatalf("Open succeeded with no server")
			}
			if !errors.Is(err, db.ErrUnreachable) {
				t.Fatalf("Open = %v, want ErrUnreachable", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the password", err)
			}
			if !strings.Contains(err.Error(), "xxxxx") {
				t.Errorf("error %q does not show the (redacted) URL", err)
			}
			t.Log(err)
		})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"hides the userinfo password",
			"postgres://eidp:" + secret + "@db.example:5432/eidp?sslmode=verify-full",
			"postgres://eidp:xxxxx@db.example:5432/eidp?sslmode=verify-full"},
		{"hides password parameters",
			"postgres://eidp@db.example/eidp?password=" + secret + "&sslpassword=" + secret,
			"postgres://eidp@db.example/eidp?password=xxxxx&sslpassword=xxxxx"},
		{"keeps a URL without password",
			"postgres://postgres@/postgres?host=/tmp/pg",
			"postgres://postgres@/postgres?host=/tmp/pg"},
		{"keeps SQLite URLs",
			"sqlite:data/eidp.db",
			"sqlite:data/eidp.db"},
		{"hides the password in a URL that does not parse",
			"postgres://eidp:" + secret + "@[::1/eidp",
			"postgres://eidp:xxxxx@[::1/eidp"},
		{"hides password= in a key=value string",
			"host=db user=eidp password=" + secret + " dbname=eidp",
			"host=db user=eidp password=xxxxx dbname=eidp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := db.RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
