package subject_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"eidp/idp/subject"
	"eidp/internal/fetch"
)

func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, subject.MinSecretLen) }

func newPairwise(t testing.TB, secret []byte) *subject.Pairwise {
	t.Helper()
	p, err := subject.NewPairwise(secret)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The format is frozen: relying parties store these values. The vector was
// computed outside Go (Python's hmac module) from the formula in doc.go.
func TestPairwiseKnownAnswer(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	p := newPairwise(t, secret)
	if got, want := p.Subject("www.housing.gov.example", "r-0001"), "v_I86C9GvQM3NPX24xEB_cOwj9up1s8W_hbKEm3sRHM"; got != want {
		t.Errorf("Subject = %s, want %s", got, want)
	}
	if got, want := p.Public("r-0001"), "h_TB1nE_0uN1-xzB3gNaQpk8hNiGtF1tepBXF-enSkM"; got != want {
		t.Errorf("Public = %s, want %s", got, want)
	}
}

// reference computes a subject from the documented formula with the
// standard library only.
func reference(secret []byte, label string, fields ...string) string {
	msg := append([]byte(label), 0)
	for _, f := range fields {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(f)))
		msg = append(msg, f...)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(msg)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestPairwiseFollowsTheDocumentedFormula(t *testing.T) {
	secret := testSecret(7)
	p := newPairwise(t, secret)
	for _, c := range [][2]string{{"a.example", "r1"}, {"forms.gov.example", ""}, {"x", strings.Repeat("id", 500)}} {
		if got, want := p.Subject(c[0], c[1]), reference(secret, "eidp pairwise v1", c[0], c[1]); got != want {
			t.Errorf("Subject(%q, %q) = %s, want %s", c[0], c[1], got, want)
		}
		if got, want := p.Public(c[1]), reference(secret, "eidp public v1", c[1]); got != want {
			t.Errorf("Public(%q) = %s, want %s", c[1], got, want)
		}
	}
}

func TestTwoSectorsSeeDifferentSubjectsForOneResident(t *testing.T) {
	p := newPairwise(t, testSecret(1))
	a, b := p.Subject("www.housing.gov.example", "resident-1"), p.Subject("www.bank.example", "resident-1")
	if a == b {
		t.Errorf("both sectors got %s", a)
	}
}

func TestOneSectorAlwaysSeesTheSameSubject(t *testing.T) {
	p := newPairwise(t, testSecret(1))
	first := p.Subject("www.housing.gov.example", "resident-1")
	for range 100 {
		if s := p.Subject("www.housing.gov.example", "resident-1"); s != first {
			t.Fatalf("subject changed from %s to %s", first, s)
		}
	}
	// Another node, or the same node after a restart, with the same secret.
	other := newPairwise(t, testSecret(1))
	if s := other.Subject("www.housing.gov.example", "resident-1"); s != first {
		t.Errorf("another Pairwise with the same secret: %s, want %s", s, first)
	}
	if s := other.Public("resident-1"); s != p.Public("resident-1") {
		t.Errorf("public subject differs between two Pairwise with the same secret")
	}
	// A different secret gives unrelated subjects.
	if s := newPairwise(t, testSecret(2)).Subject("www.housing.gov.example", "resident-1"); s == first {
		t.Errorf("a different secret gave the same subject")
	}
}

func TestDifferentResidentsGetDifferentSubjects(t *testing.T) {
	p := newPairwise(t, testSecret(1))
	seen := map[string]string{}
	for i := range 10000 {
		id := fmt.Sprintf("resident-%d", i)
		s := p.Subject("www.housing.gov.example", id)
		if prev, dup := seen[s]; dup {
			t.Fatalf("%s and %s share subject %s", prev, id, s)
		}
		seen[s] = id
	}
}

func TestNoTwoSectorResidentPairsCollideByConcatenation(t *testing.T) {
	p := newPairwise(t, testSecret(1))
	pairs := [][2]string{
		{"ab", "c"}, {"a", "bc"}, {"abc", ""},
		{"a\x00b", "c"}, {"a", "b\x00c"},
		{"a\x00\x00\x00\x01b", ""}, {"a", "\x00\x00\x00\x01b"},
	}
	seen := map[string][2]string{}
	for _, pr := range pairs {
		s := p.Subject(pr[0], pr[1])
		if prev, dup := seen[s]; dup {
			t.Errorf("(%q, %q) and (%q, %q) share subject %s", prev[0], prev[1], pr[0], pr[1], s)
		}
		seen[s] = pr
	}
}

func TestSubjectsAreShortASCII(t *testing.T) {
	// OIDC Core §2: sub is at most 255 ASCII characters. base64url without
	// padding of 32 bytes is 43 characters.
	alphabet := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	p := newPairwise(t, testSecret(1))
	for _, s := range []string{
		p.Subject("www.housing.gov.example", "resident-1"),
		p.Subject("x", strings.Repeat("long-id-", 1000)),
		p.Subject("陳.example", "居民"),
		p.Public("resident-1"),
		p.Public(""),
	} {
		if !alphabet.MatchString(s) {
			t.Errorf("subject %q is not 43 base64url characters", s)
		}
	}
}

func TestPublicSubject(t *testing.T) {
	p := newPairwise(t, testSecret(1))
	const id = "resident-1"
	pub := p.Public(id)
	if pub == id || strings.Contains(pub, id) {
		t.Errorf("public subject %q shows the resident ID", pub)
	}
	if p.Public(id) != pub {
		t.Error("public subject not stable")
	}
	if p.Public("resident-2") == pub {
		t.Error("two residents share a public subject")
	}
	// Distinct from the pairwise value for any sector, including sectors
	// chosen to resemble the public MAC input.
	for _, sector := range []string{"www.housing.gov.example", "eidp public v1", "public", id, "\x00", "x"} {
		if s := p.Subject(sector, id); s == pub {
			t.Errorf("sector %q: pairwise subject equals the public one", sector)
		}
	}
}

func TestSubjectWithoutSectorPanics(t *testing.T) {
	p := newPairwise(t, testSecret(1))
	defer func() {
		if recover() == nil {
			t.Error("an empty sector did not panic: it would link every sectorless client")
		}
	}()
	p.Subject("", "resident-1")
}

func TestNewPairwise(t *testing.T) {
	if _, err := subject.NewPairwise(make([]byte, subject.MinSecretLen-1)); !errors.Is(err, subject.ErrShortSecret) {
		t.Errorf("31-byte secret: err = %v, want ErrShortSecret", err)
	}
	if _, err := subject.NewPairwise(nil); !errors.Is(err, subject.ErrShortSecret) {
		t.Errorf("no secret: err = %v, want ErrShortSecret", err)
	}
	// The secret is copied: the caller may wipe or reuse its slice.
	secret := testSecret(3)
	p := newPairwise(t, secret)
	before := p.Subject("a.example", "r")
	clear(secret)
	if after := p.Subject("a.example", "r"); after != before {
		t.Error("changing the caller's secret slice changed the subjects")
	}
}

func TestPairwiseIsSafeForConcurrentUse(t *testing.T) {
	p := newPairwise(t, testSecret(1))
	want := p.Subject("a.example", "r")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				if s := p.Subject("a.example", "r"); s != want {
					t.Errorf("goroutine %d: %s, want %s", g, s, want)
					return
				}
				p.Subject(fmt.Sprintf("s%d.example", g), fmt.Sprint(i))
			}
		})
	}
	wg.Wait()
}

func TestSectorIdentifier(t *testing.T) {
	tests := []struct {
		name         string
		redirectURIs []string
		sectorURI    string
		want         string
		wantErr      error
	}{
		{name: "one redirect URI gives its host", redirectURIs: []string{"https://forms.gov.example/cb"}, want: "forms.gov.example"},
		{name: "several URIs on one host give that host, whatever the port, path and case",
			redirectURIs: []string{"https://forms.gov.example/cb", "https://FORMS.gov.example:8443/other", "https://forms.gov.example./x"}, want: "forms.gov.example"},
		{name: "several hosts without a sector URI need one",
			redirectURIs: []string{"https://a.gov.example/cb", "https://b.gov.example/cb"}, wantErr: subject.ErrSectorRequired},
		{name: "a sector URI gives its host, whatever the redirect hosts",
			redirectURIs: []string{"https://a.gov.example/cb", "https://b.gov.example/cb"}, sectorURI: "https://sector.gov.example/uris.json", want: "sector.gov.example"},
		{name: "a sector URI wins over a single redirect host",
			redirectURIs: []string{"https://a.gov.example/cb"}, sectorURI: "https://Sector.gov.example/uris.json", want: "sector.gov.example"},
		{name: "no redirect URIs and no sector URI is refused", wantErr: subject.ErrSectorRequired},
		{name: "a custom-scheme redirect URI has no host",
			redirectURIs: []string{"com.example.app:/callback"}, wantErr: subject.ErrSectorRequired},
		{name: "an unparsable redirect URI is refused",
			redirectURIs: []string{"https://a.example/cb", "https://a b/\x7f"}, wantErr: subject.ErrSectorRequired},
		{name: "a sector URI without host is refused",
			redirectURIs: []string{"https://a.gov.example/cb"}, sectorURI: "https:///uris.json", wantErr: subject.ErrSectorURI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := subject.SectorIdentifier(tt.redirectURIs, tt.sectorURI)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("SectorIdentifier = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestValidateSectorIdentifierURI(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/uris.json":
			fmt.Fprint(w, `["https://a.gov.example/cb", "https://b.gov.example/cb", "https://c.gov.example/cb"]`)
		case "/object.json":
			fmt.Fprint(w, `{"redirect_uris": ["https://a.gov.example/cb"]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	f := fetch.New(fetch.Options{
		AllowPrivateNetworks: true, // the test server is on loopback
		TLSConfig:            srv.Client().Transport.(*http.Transport).TLSClientConfig,
	})
	ctx := t.Context()

	t.Run("every redirect URI listed", func(t *testing.T) {
		err := subject.ValidateSectorIdentifierURI(ctx, f, srv.URL+"/uris.json",
			[]string{"https://a.gov.example/cb", "https://b.gov.example/cb"})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a redirect URI missing is named", func(t *testing.T) {
		err := subject.ValidateSectorIdentifierURI(ctx, f, srv.URL+"/uris.json",
			[]string{"https://a.gov.example/cb", "https://evil.example/cb"})
		if !errors.Is(err, subject.ErrSectorMismatch) {
			t.Fatalf("err = %v, want ErrSectorMismatch", err)
		}
		if !strings.Contains(err.Error(), "https://evil.example/cb") || strings.Contains(err.Error(), `"https://a.gov.example/cb"`) {
			t.Errorf("error %q should name the missing URI and only it", err)
		}
	})
	t.Run("matching is exact", func(t *testing.T) {
		err := subject.ValidateSectorIdentifierURI(ctx, f, srv.URL+"/uris.json", []string{"https://a.gov.example/cb/"})
		if !errors.Is(err, subject.ErrSectorMismatch) {
			t.Fatalf("err = %v, want ErrSectorMismatch", err)
		}
	})
	t.Run("a document that is not an array is refused", func(t *testing.T) {
		err := subject.ValidateSectorIdentifierURI(ctx, f, srv.URL+"/object.json", []string{"https://a.gov.example/cb"})
		if !errors.Is(err, subject.ErrSectorURI) || !errors.Is(err, fetch.ErrInvalidJSON) {
			t.Fatalf("err = %v, want ErrSectorURI and fetch.ErrInvalidJSON", err)
		}
	})
	t.Run("a fetch failure is refused", func(t *testing.T) {
		err := subject.ValidateSectorIdentifierURI(ctx, f, srv.URL+"/missing.json", []string{"https://a.gov.example/cb"})
		if !errors.Is(err, subject.ErrSectorURI) || !errors.Is(err, fetch.ErrStatus) {
			t.Fatalf("err = %v, want ErrSectorURI and fetch.ErrStatus", err)
		}
	})
	t.Run("an http URL is refused even by a fetcher that allows http", func(t *testing.T) {
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("the http sector URI was fetched")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `["https://a.gov.example/cb"]`)
		}))
		t.Cleanup(plain.Close)
		dev := fetch.New(fetch.Options{AllowHTTP: true, AllowPrivateNetworks: true})
		err := subject.ValidateSectorIdentifierURI(ctx, dev, plain.URL+"/uris.json", []string{"https://a.gov.example/cb"})
		if !errors.Is(err, subject.ErrSectorURI) {
			t.Fatalf("err = %v, want ErrSectorURI", err)
		}
	})
	t.Run("a private address is refused by a production fetcher", func(t *testing.T) {
		before := hits.Load()
		err := subject.ValidateSectorIdentifierURI(ctx, fetch.New(fetch.Options{}), srv.URL+"/uris.json", []string{"https://a.gov.example/cb"})
		if !errors.Is(err, subject.ErrSectorURI) || !errors.Is(err, fetch.ErrForbiddenURL) {
			t.Fatalf("err = %v, want ErrSectorURI and fetch.ErrForbiddenURL", err)
		}
		if hits.Load() != before {
			t.Error("the server was contacted")
		}
	})
}

func BenchmarkPairwiseSubject(b *testing.B) {
	p := newPairwise(b, testSecret(1))
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Subject("www.housing.gov.example", "Jq3xk5mV0b2hY8rT1uW4zA")
	}
}

func BenchmarkPairwiseSubjectParallel(b *testing.B) {
	p := newPairwise(b, testSecret(1))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = p.Subject("www.housing.gov.example", "Jq3xk5mV0b2hY8rT1uW4zA")
		}
	})
}

func TestSessionIDPerClient(t *testing.T) {
	p, err := subject.NewPairwise(bytes.Repeat([]byte{7}, subject.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	a, b := p.SessionID("client-a", "sess-1"), p.SessionID("client-b", "sess-1")
	if a == b || a != p.SessionID("client-a", "sess-1") || a == p.SessionID("client-a", "sess-2") {
		t.Fatalf("SessionID: a=%s b=%s: want stable per (client, session) and different between clients", a, b)
	}
	if a == p.Subject("client-a", "sess-1") || a == p.Public("sess-1") {
		t.Fatal("SessionID collides with a subject derivation")
	}
}
