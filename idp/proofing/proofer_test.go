package proofing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/internal/db"
	"eidp/internal/testenv"
)

// The demo register's CHAN Tai Man (see doc.go), as he would prove himself.
var chanTaiMan = Query{IDNumber: "A123456(3)", BirthDate: "1985-04-12", Name: "CHAN Tai Man"}

// wrongBirthDate is CHAN Tai Man's number with a birth date that is not his.
var wrongBirthDate = Query{IDNumber: "A123456(3)", BirthDate: "1985-04-13", Name: "CHAN Tai Man"}

// newProofer returns a Proofer on d and the demo register, with a clock
// the test controls.
func newProofer(t *testing.T, d *db.DB, limits Limits) (*Proofer, *testenv.Clock) {
	t.Helper()
	return newProoferWith(t, d, demo(t), limits)
}

func newProoferWith(t *testing.T, d *db.DB, reg CivilRegister, limits Limits) (*Proofer, *testenv.Clock) {
	t.Helper()
	c := testenv.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	p := NewProofer(d, reg, limits)
	p.now = c.Now
	return p, c
}

// unknownIDNumber returns the n-th valid ID number with the prefix Q, which
// no one in the demo register has.
func unknownIDNumber(t *testing.T, n int) string {
	t.Helper()
	body := fmt.Sprintf("Q%06d", n)
	for _, c := range "0123456789A" {
		if id, err := NormalizeIDNumber(body + string(c)); err == nil {
			return id
		}
	}
	t.Fatalf("no check digit verifies %s", body)
	return ""
}

// failures returns the failure count stored for subject, 0 without a row.
func failures(t *testing.T, d *db.DB, subject string) int64 {
	t.Helper()
	var n int64
	err := d.QueryRowContext(context.Background(), `SELECT failures FROM proofing_failures WHERE subject = $1`, subject).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("read failures: %v", err)
	}
	return n
}

func mustAddress(t *testing.T, addr string) string {
	t.Helper()
	s, err := addressSubject(addr)
	if err != nil {
		t.Fatalf("addressSubject(%q): %v", addr, err)
	}
	return s
}

// wantLocked fails the test unless err is a *LockedError with retryAfter.
func wantLocked(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v, want a *LockedError", err)
	}
	if locked.RetryAfter != retryAfter {
		t.Fatalf("RetryAfter = %v, want %v", locked.RetryAfter, retryAfter)
	}
}

func TestProofReturnsTheRecordWhenEveryDetailMatchesAValidCard(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{})
		ctx := context.Background()
		for _, tt := range []struct {
			name   string
			q      Query
			addr   string
			wantID string
		}{
			{"by the English name", chanTaiMan, "203.0.113.7", "A1234563"},
			{"by the Chinese name", Query{IDNumber: "a1234563", BirthDate: "1985-04-12", Name: "陳大文"}, "203.0.113.7:51000", "A1234563"},
			{"with a two-letter prefix", Query{IDNumber: "AB987654(3)", BirthDate: "1962-11-03", Name: "Ka Ho Wong"}, "[2001:db8::1]:443", "AB9876543"},
			{"without a Chinese name", Query{IDNumber: "R207716(6)", BirthDate: "1990-02-28", Name: "FERNANDES Maria Clara"}, "2001:db8::2", "R2077166"},
		} {
			r, err := p.Proof(ctx, tt.q, tt.addr)
			if err != nil || r.IDNumber != tt.wantID || !r.CardValid {
				t.Fatalf("%s: Proof = %+v, %v; want %s with a valid card", tt.name, r, err, tt.wantID)
			}
		}
		// Successes are not failures.
		if n := failures(t, d, mustAddress(t, "203.0.113.7")); n != 0 {
			t.Errorf("address counter after two successes = %d, want 0", n)
		}
	})
}

func TestProofLocksAnIdentityAfterTooManyFailuresEvenFromDifferentAddresses(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, clk := newProofer(t, d, Limits{})
		ctx := context.Background()
		for i := 1; i <= 5; i++ {
			if _, err := p.Proof(ctx, wrongBirthDate, fmt.Sprintf("198.51.100.%d", i)); err != ErrNotVerified {
				t.Fatalf("failure %d: got %v, want ErrNotVerified", i, err)
			}
		}
		// The right details, from yet another address, are refused now.
		_, err := p.Proof(ctx, chanTaiMan, "198.51.100.99")
		wantLocked(t, err, 30*time.Minute)
		clk.Advance(10 * time.Minute)
		_, err = p.Proof(ctx, chanTaiMan, "198.51.100.99")
		wantLocked(t, err, 20*time.Minute)

		// Other people proving from the same addresses are not affected.
		if _, err := p.Proof(ctx, Query{IDNumber: "G123456(A)", BirthDate: "2001-07-19", Name: "HO Wing Sze"}, "198.51.100.1"); err != nil {
			t.Fatalf("another identity from the same address: %v", err)
		}
	})
}

func TestProofLocksAnAddressAcrossDifferentIdentities(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{})
		ctx := context.Background()
		// Twenty different identities, once each, from addresses in one /64.
		for i := 1; i <= 20; i++ {
			q := Query{IDNumber: unknownIDNumber(t, i), BirthDate: "1970-01-01", Name: "CHAN Tai Man"}
			if _, err := p.Proof(ctx, q, fmt.Sprintf("2001:db8:1:2::%x", i)); err != ErrNotVerified {
				t.Fatalf("failure %d: got %v, want ErrNotVerified", i, err)
			}
		}
		// The /64 is locked, for correct details and malformed ones alike.
		_, err := p.Proof(ctx, chanTaiMan, "[2001:db8:1:2:ffff:ffff:ffff:ffff]:443")
		wantLocked(t, err, 30*time.Minute)
		_, err = p.Proof(ctx, Query{IDNumber: "nonsense"}, "2001:db8:1:2::1")
		wantLocked(t, err, 30*time.Minute)
		// The next /64 is not.
		if _, err := p.Proof(ctx, chanTaiMan, "2001:db8:1:3::1"); err != nil {
			t.Fatalf("a neighbouring /64: %v", err)
		}
	})
}

func TestLockoutExpires(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, clk := newProofer(t, d, Limits{MaxFailuresPerIdentity: 3, Lockout: 10 * time.Minute})
		ctx := context.Background()
		for i := 0; i < 3; i++ {
			if _, err := p.Proof(ctx, wrongBirthDate, "192.0.2.1"); err != ErrNotVerified {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		clk.Advance(10*time.Minute - 1500*time.Millisecond)
		_, err := p.Proof(ctx, chanTaiMan, "192.0.2.1")
		wantLocked(t, err, 2*time.Second) // 1.5 s, rounded up

		clk.Advance(1500 * time.Millisecond)
		// Ended: the count starts afresh, two failures do not lock again…
		for i := 0; i < 2; i++ {
			if _, err := p.Proof(ctx, wrongBirthDate, "192.0.2.1"); err != ErrNotVerified {
				t.Fatalf("failure %d after the lockout: %v", i+1, err)
			}
		}
		// …and the right details go through.
		if _, err := p.Proof(ctx, chanTaiMan, "192.0.2.1"); err != nil {
			t.Fatalf("after the lockout: %v", err)
		}
	})
}

func TestFailuresFromAnEndedWindowAreForgotten(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, clk := newProofer(t, d, Limits{})
		ctx := context.Background()
		for i := 0; i < 4; i++ {
			if _, err := p.Proof(ctx, wrongBirthDate, "192.0.2.1"); err != ErrNotVerified {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		clk.Advance(15 * time.Minute)
		for i := 0; i < 4; i++ {
			if _, err := p.Proof(ctx, wrongBirthDate, "192.0.2.2"); err != ErrNotVerified {
				t.Fatalf("failure %d in the next window: %v", i+1, err)
			}
		}
		if _, err := p.Proof(ctx, chanTaiMan, "192.0.2.3"); err != nil {
			t.Fatalf("eight failures in two windows locked the identity: %v", err)
		}
	})
}

func TestProofAnswersTheSameWhicheverDetailWasWrong(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{})
		ctx := context.Background()
		cases := []struct {
			name string
			q    Query
		}{
			{"an unknown ID number", Query{IDNumber: unknownIDNumber(t, 1), BirthDate: "1985-04-12", Name: "CHAN Tai Man"}},
			{"a known ID number with a wrong birth date", wrongBirthDate},
			{"a known ID number with a wrong name", Query{IDNumber: "A123456(3)", BirthDate: "1985-04-12", Name: "CHAN Siu Ming"}},
			{"a cancelled card with every detail right", Query{IDNumber: "K618025(6)", BirthDate: "1972-09-30", Name: "LEE Mei Ling"}},
			{"a name too long to be anyone's", Query{IDNumber: "A123456(3)", BirthDate: "1985-04-12", Name: strings.Repeat("CHAN ", 100)}},
		}
		var first error
		for i, c := range cases {
			_, err := p.Proof(ctx, c.q, fmt.Sprintf("192.0.2.%d", i+1))
			if err != ErrNotVerified {
				t.Fatalf("%s: got %v, want ErrNotVerified itself", c.name, err)
			}
			if first == nil {
				first = err
			} else if err.Error() != first.Error() {
				t.Fatalf("%s: message %q differs from %q", c.name, err, first)
			}
			id, _ := NormalizeIDNumber(c.q.IDNumber)
			if n := failures(t, d, identitySubject(id)); n == 0 {
				t.Errorf("%s: not counted against the identity", c.name)
			}
		}
		for _, leak := range []string{"exist", "unknown", "birth date is", "cancel", "not found"} {
			if strings.Contains(strings.ToLower(first.Error()), leak) {
				t.Errorf("message %q hints at which detail failed (%q)", first, leak)
			}
		}
	})
}

func TestMalformedIDNumbersCountAgainstTheAddressButNoIdentity(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{})
		ctx := context.Background()
		const addr = "203.0.113.50"
		for i := 0; i < 10; i++ {
			// CHAN Tai Man's number with the wrong check digit.
			q := Query{IDNumber: "A123456(4)", BirthDate: "1985-04-12", Name: "CHAN Tai Man"}
			if _, err := p.Proof(ctx, q, addr); !errors.Is(err, ErrIDNumberCheckDigit) {
				t.Fatalf("attempt %d: got %v, want ErrIDNumberCheckDigit", i+1, err)
			}
			q.IDNumber = "A12345"
			if _, err := p.Proof(ctx, q, addr); !errors.Is(err, ErrIDNumberFormat) {
				t.Fatalf("attempt %d: got %v, want ErrIDNumberFormat", i+1, err)
			}
		}
		_, err := p.Proof(ctx, chanTaiMan, addr)
		wantLocked(t, err, 30*time.Minute)

		var identities int
		if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM proofing_failures WHERE subject LIKE 'id:%'`).Scan(&identities); err != nil {
			t.Fatal(err)
		}
		if identities != 0 {
			t.Fatalf("%d identities counted for malformed numbers, want none", identities)
		}
		if _, err := p.Proof(ctx, chanTaiMan, "203.0.113.51"); err != nil {
			t.Fatalf("the identity from another address: %v", err)
		}
	})
}

func TestSuccessResetsTheIdentityButNotTheAddress(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{})
		ctx := context.Background()
		const addr = "203.0.113.60"
		for round := 1; round <= 2; round++ {
			for i := 0; i < 4; i++ {
				if _, err := p.Proof(ctx, wrongBirthDate, addr); err != ErrNotVerified {
					t.Fatalf("round %d, failure %d: %v", round, i+1, err)
				}
			}
			// Without the reset, round 2 would be locked at its first failure.
			if _, err := p.Proof(ctx, chanTaiMan, addr); err != nil {
				t.Fatalf("round %d, success: %v", round, err)
			}
			if n := failures(t, d, identitySubject("A1234563")); n != 0 {
				t.Fatalf("round %d: identity counter = %d after a success, want 0", round, n)
			}
		}
		if n := failures(t, d, mustAddress(t, addr)); n != 8 {
			t.Fatalf("address counter = %d, want the 8 failures kept", n)
		}
	})
}

func TestConcurrentFailuresAreCountedExactly(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{MaxFailuresPerIdentity: 100, MaxFailuresPerAddress: 100})
		errs := proofAtOnce(p, 10, wrongBirthDate, "203.0.113.70")
		for i, err := range errs {
			if err != ErrNotVerified {
				t.Fatalf("goroutine %d: %v", i, err)
			}
		}
		if n := failures(t, d, identitySubject("A1234563")); n != 10 {
			t.Errorf("identity counter = %d, want 10", n)
		}
		if n := failures(t, d, mustAddress(t, "203.0.113.70")); n != 10 {
			t.Errorf("address counter = %d, want 10", n)
		}
	})
}

func TestConcurrentGuessesCannotExceedTheLimit(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{})
		var notVerified, locked int
		for _, err := range proofAtOnce(p, 10, wrongBirthDate, "203.0.113.80") {
			switch {
			case err == ErrNotVerified:
				notVerified++
			case errors.Is(err, ErrLocked):
				locked++
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		if notVerified != 5 || locked != 5 {
			t.Fatalf("%d guesses checked and %d refused, want 5 and 5", notVerified, locked)
		}
		if n := failures(t, d, identitySubject("A1234563")); n != 5 {
			t.Errorf("identity counter = %d, want 5", n)
		}
	})
}

// proofAtOnce runs n Proofs of q from addr at the same moment.
func proofAtOnce(p *Proofer, n int, q Query, addr string) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = p.Proof(context.Background(), q, addr)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// unavailableRegister is a civil register that cannot answer, as when the
// link to it is down.
type unavailableRegister struct{}

var errRegisterDown = errors.New("civil register link down")

func (unavailableRegister) Lookup(context.Context, Query) (Record, error) {
	return Record{}, errRegisterDown
}

func TestARegisterThatCannotAnswerCountsNoFailure(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProoferWith(t, d, unavailableRegister{}, Limits{})
		for i := 0; i < 25; i++ {
			_, err := p.Proof(context.Background(), chanTaiMan, "203.0.113.90")
			if !errors.Is(err, errRegisterDown) || errors.Is(err, ErrNotVerified) || errors.Is(err, ErrLocked) {
				t.Fatalf("attempt %d: got %v, want the register's error", i+1, err)
			}
		}
		if n := failures(t, d, identitySubject("A1234563")); n != 0 {
			t.Errorf("identity counter = %d, want 0", n)
		}
		if n := failures(t, d, mustAddress(t, "203.0.113.90")); n != 0 {
			t.Errorf("address counter = %d, want 0", n)
		}
	})
}

func TestCountersHoldNeitherIDNumbersNorAddresses(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{})
		ctx := context.Background()
		if _, err := p.Proof(ctx, wrongBirthDate, "203.0.113.7"); err != ErrNotVerified {
			t.Fatal(err)
		}
		rows, err := d.QueryContext(ctx, `SELECT subject FROM proofing_failures`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		hashed := regexp.MustCompile(`^(id|addr):[0-9a-f]{64}$`)
		var subjects []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			subjects = append(subjects, s)
			if !hashed.MatchString(s) || strings.Contains(s, "123456") || strings.Contains(s, "203.0.113") {
				t.Errorf("subject %q is not a hash", s)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(subjects) != 2 {
			t.Fatalf("subjects %v, want one identity and one address", subjects)
		}
	})
}

func TestSweepDeletesOnlyCountersThatNoLongerMatter(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, clk := newProofer(t, d, Limits{})
		ctx := context.Background()
		for i := 1; i <= 5; i++ { // locks the identity; one failure per address
			if _, err := p.Proof(ctx, wrongBirthDate, fmt.Sprintf("192.0.2.%d", i)); err != ErrNotVerified {
				t.Fatal(err)
			}
		}
		sweep := func(want int64) {
			t.Helper()
			n, err := p.Sweep(ctx)
			if err != nil || n != want {
				t.Fatalf("Sweep = %d, %v; want %d", n, err, want)
			}
		}
		sweep(0)
		clk.Advance(15 * time.Minute)
		sweep(5) // the addresses' windows ended; the identity is still locked
		_, err := p.Proof(ctx, chanTaiMan, "192.0.2.9")
		wantLocked(t, err, 15*time.Minute)
		clk.Advance(15 * time.Minute)
		sweep(1)
		if _, err := p.Proof(ctx, chanTaiMan, "192.0.2.9"); err != nil {
			t.Fatalf("after the sweep: %v", err)
		}
	})
}

func TestProofRefusesAClientAddressThatIsNotAnIPAddress(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		p, _ := newProofer(t, d, Limits{})
		for _, addr := range []string{"", "localhost:80", "example.org", "203.0.113"} {
			if _, err := p.Proof(context.Background(), chanTaiMan, addr); !errors.Is(err, ErrClientAddress) {
				t.Errorf("Proof from %q: got %v, want ErrClientAddress", addr, err)
			}
		}
	})
}

func TestAddressSubject(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"a port does not matter", "203.0.113.7", "203.0.113.7:443", true},
		{"another IPv4 address is another subject", "203.0.113.7", "203.0.113.8", false},
		{"an IPv4-mapped IPv6 address is its IPv4 address", "::ffff:203.0.113.7", "203.0.113.7", true},
		{"IPv6 addresses in one /64 are one subject", "2001:db8:1:2::1", "[2001:db8:1:2:abcd:ef01:2345:6789]:8443", true},
		{"an IPv6 zone does not matter", "fe80::1%eth0", "fe80::2", true},
		{"IPv6 addresses in different /64s are different subjects", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"letter case in IPv6 does not matter", "2001:DB8::1", "2001:db8::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustAddress(t, tt.a) == mustAddress(t, tt.b); got != tt.same {
				t.Fatalf("addressSubject(%q) == addressSubject(%q) is %v, want %v", tt.a, tt.b, got, tt.same)
			}
		})
	}
}

func TestLimitsDefaults(t *testing.T) {
	got := Limits{MaxFailuresPerAddress: 7}.withDefaults()
	want := Limits{MaxFailuresPerIdentity: 5, MaxFailuresPerAddress: 7, Window: 15 * time.Minute, Lockout: 30 * time.Minute}
	if got != want {
		t.Fatalf("withDefaults = %+v, want %+v", got, want)
	}
}
