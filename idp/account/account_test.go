package account_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eidp/idp/account"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eachEngine runs test once per engine, each on a fresh migrated database.
func eachEngine(t *testing.T, test func(t *testing.T, d *db.DB, s *account.Store)) {
	t.Helper()
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) { test(t, d, account.NewStore(d)) })
}

var profileN atomic.Int64

// profile returns a distinct civil-register record.
func profile() account.Profile {
	return account.Profile{
		IDNumber:   fmt.Sprintf("A%06d(3)", profileN.Add(1)),
		Surname:    "Chan",
		GivenNames: "Tai Man",
		NameZH:     "陳大文",
		BirthDate:  "1990-02-01",
		Gender:     "M",
	}
}

func mustCreate(t *testing.T, s *account.Store) account.Resident {
	t.Helper()
	r, err := s.Create(testCtx(t), profile(), "substantial")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return r
}

func TestResidents(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, d *db.DB, s *account.Store) {
		ctx := testCtx(t)
		p := profile()
		r, err := s.Create(ctx, p, "substantial")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(r.ID) {
			t.Errorf("ID %q is not 16 bytes of base64url", r.ID)
		}
		if r.Profile != p || r.Level != "substantial" || r.Status != account.StatusActive || r.CreatedAt.IsZero() {
			t.Errorf("Create returned %+v", r)
		}

		t.Run("Get and ByIDNumber return what Create returned", func(t *testing.T) {
			for name, get := range map[string]func() (account.Resident, error){
				"Get":        func() (account.Resident, error) { return s.Get(ctx, r.ID) },
				"ByIDNumber": func() (account.Resident, error) { return s.ByIDNumber(ctx, p.IDNumber) },
			} {
				got, err := get()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got.ID != r.ID || got.Profile != r.Profile || got.Level != r.Level || got.Status != r.Status ||
					!got.CreatedAt.Equal(r.CreatedAt) || !got.UpdatedAt.Equal(r.UpdatedAt) {
					t.Errorf("%s = %+v, want %+v", name, got, r)
				}
			}
		})

		t.Run("unknown residents are ErrNotFound", func(t *testing.T) {
			if _, err := s.Get(ctx, "nobody"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
			}
			if _, err := s.ByIDNumber(ctx, "Z999999(9)"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("ByIDNumber(unknown) = %v, want ErrNotFound", err)
			}
			if err := s.SetLevel(ctx, "nobody", "high"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("SetLevel(unknown) = %v, want ErrNotFound", err)
			}
			if err := s.SetStatus(ctx, "nobody", account.StatusSuspended); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("SetStatus(unknown) = %v, want ErrNotFound", err)
			}
		})

		t.Run("a second account for the same identity is refused", func(t *testing.T) {
			q := profile()
			q.IDNumber = p.IDNumber
			if _, err := s.Create(ctx, q, "high"); !errors.Is(err, account.ErrAlreadyRegistered) {
				t.Errorf("Create(same ID number) = %v, want ErrAlreadyRegistered", err)
			}
		})

		t.Run("of concurrent registrations of one identity exactly one wins", func(t *testing.T) {
			p := profile()
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { _, errs[i] = s.Create(ctx, p, "substantial") })
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, account.ErrAlreadyRegistered):
					t.Errorf("Create: %v, want nil or ErrAlreadyRegistered", err)
				}
			}
			if won != 1 {
				t.Errorf("%d of %d concurrent registrations succeeded, want 1", won, n)
			}
		})

		t.Run("bad levels and statuses are refused", func(t *testing.T) {
			if _, err := s.Create(ctx, profile(), "low"); err == nil {
				t.Error("Create with level \"low\" succeeded")
			}
			if _, err := s.Create(ctx, account.Profile{Surname: "X"}, "high"); err == nil {
				t.Error("Create without an ID number succeeded")
			}
			if err := s.SetLevel(ctx, r.ID, "extreme"); err == nil {
				t.Error("SetLevel(\"extreme\") succeeded")
			}
			if err := s.SetStatus(ctx, r.ID, "gone"); err == nil {
				t.Error("SetStatus(\"gone\") succeeded")
			}
		})

		t.Run("SetLevel changes the level and records it", func(t *testing.T) {
			r := mustCreate(t, s)
			later := time.Now().Add(time.Hour)
			account.SetNow(s, func() time.Time { return later })
			defer account.SetNow(s, time.Now)
			if err := s.SetLevel(ctx, r.ID, "high"); err != nil {
				t.Fatalf("SetLevel: %v", err)
			}
			got, err := s.Get(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Level != "high" || !got.UpdatedAt.Equal(later.UTC().Truncate(time.Microsecond)) || !got.CreatedAt.Equal(r.CreatedAt) {
				t.Errorf("after SetLevel: level %q, updated %v, created %v", got.Level, got.UpdatedAt, got.CreatedAt)
			}
			// Setting it again records nothing more.
			if err := s.SetLevel(ctx, r.ID, "high"); err != nil {
				t.Fatalf("SetLevel again: %v", err)
			}
			events, err := s.Activity(ctx, r.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 2 || events[0].Kind != account.KindLevelChanged || events[1].Kind != account.KindRegistered {
				t.Fatalf("activity = %+v, want level_changed then registered", events)
			}
			if d := events[0].Detail; d["from"] != "substantial" || d["to"] != "high" {
				t.Errorf("level_changed detail = %v", d)
			}
		})

		t.Run("SetStatus changes the status", func(t *testing.T) {
			r := mustCreate(t, s)
			for _, st := range []account.Status{account.StatusSuspended, account.StatusActive, account.StatusDeleted} {
				if err := s.SetStatus(ctx, r.ID, st); err != nil {
					t.Fatalf("SetStatus(%s): %v", st, err)
				}
				if got, err := s.Get(ctx, r.ID); err != nil || got.Status != st {
					t.Errorf("after SetStatus(%s): Get = %v, %v", st, got.Status, err)
				}
			}
		})
	})
}

func TestDisplayName(t *testing.T) {
	withZH := account.Resident{Profile: account.Profile{Surname: "Chan", GivenNames: "Tai Man", NameZH: "陳大文"}}
	noZH := account.Resident{Profile: account.Profile{Surname: "Smith", GivenNames: "Jane Mary"}}
	noGiven := account.Resident{Profile: account.Profile{Surname: "Lee"}}
	tests := []struct {
		name string
		r    account.Resident
		lang string
		want string
	}{
		{"Traditional Chinese shows the Chinese name", withZH, "zh-Hant", "陳大文"},
		{"any Chinese tag shows the Chinese name", withZH, "zh-HK", "陳大文"},
		{"Chinese without a Chinese name falls back to given names and surname", noZH, "zh-Hant", "Jane Mary Smith"},
		{"English capitalises the surname", withZH, "en", "Tai Man CHAN"},
		{"another language is English", noZH, "fr", "Jane Mary SMITH"},
		{"no language is English", noZH, "", "Jane Mary SMITH"},
		{"no given names leave no stray space", noGiven, "en", "LEE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.DisplayName(tt.lang); got != tt.want {
				t.Errorf("DisplayName(%q) = %q, want %q", tt.lang, got, tt.want)
			}
		})
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	format := regexp.MustCompile(`^[` + account.RecoveryAlphabet + `]{4}(-[` + account.RecoveryAlphabet + `]{4}){3}$`)
	eachEngine(t, func(t *testing.T, d *db.DB, s *account.Store) {
		ctx := testCtx(t)
		r := mustCreate(t, s)
		codes, err := s.NewRecoveryCodes(ctx, r.ID)
		if err != nil {
			t.Fatalf("NewRecoveryCodes: %v", err)
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if !format.MatchString(c) {
				t.Errorf("code %q is not four groups of four from the alphabet", c)
			}
			seen[c] = true
		}
		if len(codes) != 10 || len(seen) != 10 {
			t.Fatalf("got %d codes, %d distinct, want 10", len(codes), len(seen))
		}
		left := func() int {
			t.Helper()
			n, err := s.RecoveryCodesLeft(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := left(); n != 10 {
			t.Errorf("RecoveryCodesLeft = %d, want 10", n)
		}

		t.Run("the database holds only hashes", func(t *testing.T) {
			for _, text := range tableText(t, d, "recovery_codes", "account_activity") {
				for _, c := range codes {
					raw := strings.ReplaceAll(c, "-", "")
					if strings.Contains(text, c) || strings.Contains(text, raw) || strings.Contains(strings.ToLower(text), strings.ToLower(raw)) {
						t.Fatalf("the database contains recovery code %s", c)
					}
				}
			}
		})

		t.Run("a code works once, written any way", func(t *testing.T) {
			messy := " " + strings.ToLower(strings.ReplaceAll(codes[0], "-", " - ")) + " "
			if err := s.UseRecoveryCode(ctx, r.ID, messy); err != nil {
				t.Fatalf("UseRecoveryCode(%q): %v", messy, err)
			}
			if err := s.UseRecoveryCode(ctx, r.ID, codes[0]); !errors.Is(err, account.ErrBadRecoveryCode) {
				t.Errorf("second use = %v, want ErrBadRecoveryCode", err)
			}
			if n := left(); n != 9 {
				t.Errorf("RecoveryCodesLeft = %d, want 9", n)
			}
			events, err := s.Activity(ctx, r.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].Kind != account.KindRecovered || events[0].Detail["codes_left"] != "9" {
				t.Errorf("latest event = %+v, want recovered with 9 codes left", events)
			}
		})

		t.Run("wrong, malformed and other residents' codes fail", func(t *testing.T) {
			other := mustCreate(t, s)
			otherCodes, err := s.NewRecoveryCodes(ctx, other.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{
				"", "ABCD", strings.Repeat("A", 16), codes[1] + "A", strings.Repeat(codes[1], 5),
				strings.Replace(codes[1], codes[1][:1], "0", 1), otherCodes[0],
			} {
				if err := s.UseRecoveryCode(ctx, r.ID, c); !errors.Is(err, account.ErrBadRecoveryCode) {
					t.Errorf("UseRecoveryCode(%q) = %v, want ErrBadRecoveryCode", c, err)
				}
			}
			if err := s.UseRecoveryCode(ctx, "nobody", codes[1]); !errors.Is(err, account.ErrBadRecoveryCode) {
				t.Errorf("UseRecoveryCode(unknown resident) = %v, want ErrBadRecoveryCode", err)
			}
			if n := left(); n != 9 {
				t.Errorf("failed uses spent codes: %d left, want 9", n)
			}
		})

		t.Run("of concurrent uses of one code exactly one wins", func(t *testing.T) {
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { errs[i] = s.UseRecoveryCode(ctx, r.ID, codes[2]) })
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, account.ErrBadRecoveryCode):
					t.Errorf("UseRecoveryCode: %v", err)
				}
			}
			if won != 1 {
				t.Errorf("%d of %d concurrent uses succeeded, want 1", won, n)
			}
		})

		t.Run("a new set replaces the old one", func(t *testing.T) {
			fresh, err := s.NewRecoveryCodes(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n := left(); n != 10 {
				t.Errorf("RecoveryCodesLeft after reissue = %d, want 10", n)
			}
			if err := s.UseRecoveryCode(ctx, r.ID, codes[3]); !errors.Is(err, account.ErrBadRecoveryCode) {
				t.Errorf("old code after reissue = %v, want ErrBadRecoveryCode", err)
			}
			if err := s.UseRecoveryCode(ctx, r.ID, fresh[9]); err != nil {
				t.Errorf("new code: %v", err)
			}
		})

		t.Run("no codes for an unknown resident", func(t *testing.T) {
			if _, err := s.NewRecoveryCodes(ctx, "nobody"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("NewRecoveryCodes(unknown) = %v, want ErrNotFound", err)
			}
		})
	})
}

func TestRecoveryCodeShape(t *testing.T) {
	if strings.ContainsAny(account.RecoveryAlphabet, "0O1IL") {
		t.Fatalf("alphabet %q has ambiguous characters", account.RecoveryAlphabet)
	}
	if bits := 16 * math.Log2(float64(len(account.RecoveryAlphabet))); bits < 79 {
		t.Errorf("a code carries %.1f bits", bits)
	}
	// Every symbol appears, none far more often than the others.
	counts := map[rune]int{}
	const draws = 4000
	for range draws {
		for _, r := range account.RandomRecoveryCode() {
			counts[r]++
		}
	}
	want := float64(draws*16) / float64(len(account.RecoveryAlphabet))
	for _, r := range account.RecoveryAlphabet {
		if c := float64(counts[r]); c < 0.8*want || c > 1.2*want {
			t.Errorf("symbol %c drawn %v times, expected about %.0f", r, c, want)
		}
	}
	if len(counts) != len(account.RecoveryAlphabet) {
		t.Errorf("drew %d distinct symbols, want %d", len(counts), len(account.RecoveryAlphabet))
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"ABCD-EFGH-JKMN-PQRS", "ABCDEFGHJKMNPQRS", true},
		{"abcd efgh jkmn pqrs", "ABCDEFGHJKMNPQRS", true},
		{"  abcdEFGH–jkmn\u00a0pqrs ", "ABCDEFGHJKMNPQRS", true},
		{"ABCD-EFGH-JKMN-PQR", "", false},   // too short
		{"ABCD-EFGH-JKMN-PQRST", "", false}, // too long
		{"ABCD-EFGH-JKMN-PQR0", "", false},  // not in the alphabet
		{"ABCD-EFGH-JKMN-PQRİ", "", false},  // non-ASCII letter
		{"ABCD_EFGH_JKMN_PQRS", "", false},  // underscores are not separators
	}
	for _, tt := range tests {
		got, ok := account.NormalizeRecoveryCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalize(%q) = (%q, %v), want (%q, %v)", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestActivity(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, d *db.DB, s *account.Store) {
		ctx := testCtx(t)
		r := mustCreate(t, s)
		base := time.Now().Add(time.Minute)
		step := 0
		account.SetNow(s, func() time.Time { step++; return base.Add(time.Duration(step) * time.Second) })
		defer account.SetNow(s, time.Now)

		if err := s.Record(ctx, r.ID, account.KindLogin, map[string]string{"acr": "urn:eidp:acr:substantial"}); err != nil {
			t.Fatalf("Record: %v", err)
		}
		if err := s.Record(ctx, r.ID, account.KindPasskeyAdded, nil); err != nil {
			t.Fatalf("Record: %v", err)
		}

		t.Run("RecordTx writes only when the caller's transaction commits", func(t *testing.T) {
			rollback := errors.New("rolled back")
			err := d.InTx(ctx, func(tx *sql.Tx) error {
				if err := s.RecordTx(ctx, tx, r.ID, account.KindPasskeyRemoved, map[string]string{"n": "1"}); err != nil {
					return err
				}
				return rollback
			})
			if !errors.Is(err, rollback) {
				t.Fatalf("InTx = %v", err)
			}
			err = d.InTx(ctx, func(tx *sql.Tx) error {
				return s.RecordTx(ctx, tx, r.ID, account.KindSessionRevoked, map[string]string{"session": "s1"})
			})
			if err != nil {
				t.Fatalf("InTx: %v", err)
			}
		})

		events, err := s.Activity(ctx, r.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []account.Kind
		for _, e := range events {
			kinds = append(kinds, e.Kind)
			if e.ResidentID != r.ID || e.ID == "" || e.At.IsZero() {
				t.Errorf("event %+v", e)
			}
		}
		want := []account.Kind{account.KindSessionRevoked, account.KindPasskeyAdded, account.KindLogin, account.KindRegistered}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Fatalf("Activity kinds = %v, want %v (newest first)", kinds, want)
		}
		if events[0].Detail["session"] != "s1" || events[2].Detail["acr"] != "urn:eidp:acr:substantial" || len(events[1].Detail) != 0 {
			t.Errorf("details = %v, %v, %v", events[0].Detail, events[1].Detail, events[2].Detail)
		}
		// The clock ticks a second per call; the last call stamped the newest event.
		if newest := base.Add(time.Duration(step) * time.Second).UTC().Truncate(time.Microsecond); !events[0].At.Equal(newest) {
			t.Errorf("newest event at %v, want %v", events[0].At, newest)
		}

		if got, err := s.Activity(ctx, r.ID, 2); err != nil || len(got) != 2 || got[0].Kind != account.KindSessionRevoked {
			t.Errorf("Activity(limit 2) = %d events, %v", len(got), err)
		}
		if got, err := s.Activity(ctx, "nobody", 10); err != nil || len(got) != 0 {
			t.Errorf("Activity(unknown) = %v, %v; want none", got, err)
		}

		t.Run("oversized or nameless events are refused", func(t *testing.T) {
			big := map[string]string{}
			for i := range 17 {
				big[fmt.Sprint(i)] = "x"
			}
			for name, rec := range map[string]func() error{
				"empty kind": func() error { return s.Record(ctx, r.ID, "", nil) },
				"17 entries": func() error { return s.Record(ctx, r.ID, account.KindLogin, big) },
				"a long value": func() error {
					return s.Record(ctx, r.ID, account.KindLogin, map[string]string{"k": strings.Repeat("v", 257)})
				},
				"an empty key":   func() error { return s.Record(ctx, r.ID, account.KindLogin, map[string]string{"": "v"}) },
				"a non-resident": func() error { return s.Record(ctx, "nobody", account.KindLogin, nil) },
			} {
				if err := rec(); err == nil {
					t.Errorf("Record with %s succeeded", name)
				}
			}
		})
	})
}

// tableText returns every non-NULL value of the tables as text.
func tableText(t *testing.T, d *db.DB, tables ...string) []string {
	t.Helper()
	var out []string
	for _, table := range tables {
		rows, err := d.QueryContext(testCtx(t), `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case nil:
				case []byte:
					out = append(out, string(v))
				default:
					out = append(out, fmt.Sprint(v))
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

func TestRegistrationCompletedOnceRecoveryCodesExist(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			s := account.NewStore(testenv.OpenDB(t, d.URL))
			ctx := context.Background()
			r, err := s.Create(ctx, account.Profile{IDNumber: "A1234563", Surname: "CHAN", GivenNames: "Tai Man",
				BirthDate: "1985-04-12", Gender: "M"}, "substantial")
			if err != nil {
				t.Fatal(err)
			}
			if done, err := s.RegistrationCompleted(ctx, r.ID); err != nil || done {
				t.Fatalf("before any codes: %v %v", done, err)
			}
			codes, err := s.NewRecoveryCodes(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range codes {
				if err := s.UseRecoveryCode(ctx, r.ID, c); err != nil {
					t.Fatal(err)
				}
			}
			if done, err := s.RegistrationCompleted(ctx, r.ID); err != nil || !done {
				t.Fatalf("with every code used: %v %v", done, err)
			}
		})
	}
}
