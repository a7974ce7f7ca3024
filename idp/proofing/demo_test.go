package proofing

import (
	"context"
	"errors"
	"testing"
	"time"
)

func demo(t *testing.T) *Demo {
	t.Helper()
	d, err := DemoRegister()
	if err != nil {
		t.Fatalf("DemoRegister: %v", err)
	}
	return d
}

func TestDemoRegisterHoldsEnoughVariedPeople(t *testing.T) {
	people := demo(t).People()
	if len(people) < 200 {
		t.Fatalf("%d people, want at least 200", len(people))
	}
	seen := map[string]bool{}
	var chinese, cancelled, twoLetter int
	genders := map[string]int{}
	for _, p := range people {
		id, err := NormalizeIDNumber(p.IDNumber)
		if err != nil || id != p.IDNumber {
			t.Errorf("%s %s: ID number %q does not verify: %v", p.Surname, p.GivenNames, p.IDNumber, err)
		}
		if seen[p.IDNumber] {
			t.Errorf("ID number %s appears twice", p.IDNumber)
		}
		seen[p.IDNumber] = true
		if p.NameZH != "" {
			chinese++
		}
		if !p.CardValid {
			cancelled++
		}
		if len(p.IDNumber) == 9 {
			twoLetter++
		}
		genders[p.Gender]++
		born, err := time.Parse(time.DateOnly, p.BirthDate)
		if err != nil || born.Year() < 1930 || born.Year() > 2008 {
			t.Errorf("%s: birth date %q outside 1930–2008", p.IDNumber, p.BirthDate)
		}
	}
	if chinese < len(people)/3 || chinese > len(people)*2/3 {
		t.Errorf("%d of %d people have a Chinese name, want about half", chinese, len(people))
	}
	if cancelled < 5 || cancelled > 20 {
		t.Errorf("%d cancelled cards, want about 10", cancelled)
	}
	if twoLetter == 0 || genders["M"] == 0 || genders["F"] == 0 || genders["X"] == 0 {
		t.Errorf("want two-letter prefixes and every gender: %d two-letter, genders %v", twoLetter, genders)
	}
}

func TestDemoRegisterStartsWithTheDocumentedPeople(t *testing.T) {
	want := []Record{
		{IDNumber: "A1234563", Surname: "CHAN", GivenNames: "Tai Man", NameZH: "陳大文", BirthDate: "1985-04-12", Gender: "M", CardValid: true},
		{IDNumber: "K6180256", Surname: "LEE", GivenNames: "Mei Ling", NameZH: "李美玲", BirthDate: "1972-09-30", Gender: "F", CardValid: false},
		{IDNumber: "R2077166", Surname: "FERNANDES", GivenNames: "Maria Clara", NameZH: "", BirthDate: "1990-02-28", Gender: "F", CardValid: true},
		{IDNumber: "AB9876543", Surname: "WONG", GivenNames: "Ka Ho", NameZH: "黃家豪", BirthDate: "1962-11-03", Gender: "M", CardValid: true},
		{IDNumber: "G123456A", Surname: "HO", GivenNames: "Wing Sze", NameZH: "何詠詩", BirthDate: "2001-07-19", Gender: "F", CardValid: true},
		{IDNumber: "Y3055173", Surname: "CHEUNG", GivenNames: "Alex Chi Ho", NameZH: "張志豪", BirthDate: "1999-12-31", Gender: "X", CardValid: true},
	}
	people := demo(t).People()
	for i, w := range want {
		if people[i] != w {
			t.Errorf("person %d = %+v, want %+v", i+1, people[i], w)
		}
	}
}

func TestDemoLookup(t *testing.T) {
	d := demo(t)
	chanTaiMan := Query{IDNumber: "A123456(3)", BirthDate: "1985-04-12", Name: "CHAN Tai Man"}
	with := func(f func(*Query)) Query { q := chanTaiMan; f(&q); return q }
	tests := []struct {
		name   string
		q      Query
		wantID string
		err    error
	}{
		{"the English name surname first matches", chanTaiMan, "A1234563", nil},
		{"the English name given names first matches", with(func(q *Query) { q.Name = "Tai Man CHAN" }), "A1234563", nil},
		{"letter case and extra spaces do not matter", with(func(q *Query) { q.Name = "  chan   tai  man " }), "A1234563", nil},
		{"the card's comma and a hyphenated given name match", with(func(q *Query) { q.Name = "CHAN, Tai-man" }), "A1234563", nil},
		{"the Chinese name matches", with(func(q *Query) { q.Name = "陳大文" }), "A1234563", nil},
		{"the Chinese name with a space matches", with(func(q *Query) { q.Name = "陳 大文" }), "A1234563", nil},
		{"the ID number may be typed loosely", with(func(q *Query) { q.IDNumber = " a 123456 3" }), "A1234563", nil},
		{"a two-letter prefix is found", Query{IDNumber: "AB987654(3)", BirthDate: "1962-11-03", Name: "WONG Ka Ho"}, "AB9876543", nil},
		{"a cancelled card is returned as such", Query{IDNumber: "K618025(6)", BirthDate: "1972-09-30", Name: "李美玲"}, "K6180256", nil},

		{"a wrong birth date does not match", with(func(q *Query) { q.BirthDate = "1985-04-13" }), "", ErrNoMatch},
		{"a wrong name does not match", with(func(q *Query) { q.Name = "CHAN Siu Man" }), "", ErrNoMatch},
		{"the surname alone does not match", with(func(q *Query) { q.Name = "CHAN" }), "", ErrNoMatch},
		{"a simplified Chinese name does not match", with(func(q *Query) { q.Name = "陈大文" }), "", ErrNoMatch},
		{"an unknown ID number does not match", with(func(q *Query) { q.IDNumber = "A000010(0)" }), "", ErrNoMatch},
		{"an empty name does not match a person without a Chinese name", Query{IDNumber: "R207716(6)", BirthDate: "1990-02-28", Name: ""}, "", ErrNoMatch},
		{"an empty name does not match a person with a Chinese name", with(func(q *Query) { q.Name = " " }), "", ErrNoMatch},
		{"a malformed ID number is reported as such", with(func(q *Query) { q.IDNumber = "A12345" }), "", ErrIDNumberFormat},
		{"a wrong check digit is reported as such", with(func(q *Query) { q.IDNumber = "A123456(4)" }), "", ErrIDNumberCheckDigit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := d.Lookup(context.Background(), tt.q)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) || r.IDNumber != tt.wantID {
				t.Fatalf("Lookup(%+v) = %q, %v; want %q, %v", tt.q, r.IDNumber, err, tt.wantID, tt.err)
			}
		})
	}
}

func TestDemoLookupAnswersTheSameErrorWhateverDidNotMatch(t *testing.T) {
	d := demo(t)
	queries := []Query{
		{IDNumber: "A000010(0)", BirthDate: "1985-04-12", Name: "CHAN Tai Man"}, // unknown number
		{IDNumber: "A123456(3)", BirthDate: "1985-04-13", Name: "CHAN Tai Man"}, // wrong birth date
		{IDNumber: "A123456(3)", BirthDate: "1985-04-12", Name: "WONG Tai Man"}, // wrong name
	}
	for _, q := range queries {
		if _, err := d.Lookup(context.Background(), q); err != ErrNoMatch {
			t.Errorf("Lookup(%+v) = %v, want exactly ErrNoMatch", q, err)
		}
	}
}

func TestDemoLookupStopsWhenTheContextIsDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := demo(t).Lookup(ctx, Query{IDNumber: "A123456(3)", BirthDate: "1985-04-12", Name: "CHAN Tai Man"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup with a cancelled context = %v, want context.Canceled", err)
	}
}
