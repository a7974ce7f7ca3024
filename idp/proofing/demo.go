package proofing

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

//go:generate go run ./internal/gen -o demo_register.json

// demoRegisterJSON is the synthetic register, written by internal/gen.
//
//go:embed demo_register.json
var demoRegisterJSON []byte

// demoPerson is one entry of demo_register.json.
type demoPerson struct {
	IDNumber   string `json:"id_number"`
	Surname    string `json:"surname"`
	GivenNames string `json:"given_names"`
	NameZH     string `json:"name_zh"`
	BirthDate  string `json:"birth_date"`
	Gender     string `json:"gender"`
	CardValid  bool   `json:"card_valid"`
}

// Demo is a civil register of synthetic people held in memory, for
// development, demonstrations and tests. No real person is in it; the
// people that tests and documentation rely on are listed in the package
// documentation. It is safe for concurrent use.
type Demo struct {
	byID   map[string]Record
	people []Record // in file order
}

var _ CivilRegister = (*Demo)(nil)

// DemoRegister loads the embedded demo register. It checks every entry (a
// canonical ID number with a correct check digit, no duplicate, a real
// date, a known gender, a name) and fails if one is wrong.
func DemoRegister() (*Demo, error) {
	var file struct {
		Comment string       `json:"comment"` // for people reading the file
		People  []demoPerson `json:"people"`
	}
	dec := json.NewDecoder(bytes.NewReader(demoRegisterJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("proofing: demo register: %w", err)
	}

	d := &Demo{byID: make(map[string]Record, len(file.People))}
	for i, p := range file.People {
		r := Record(p)
		if err := checkRecord(r); err != nil {
			return nil, fmt.Errorf("proofing: demo register: person %d: %w", i+1, err)
		}
		if _, dup := d.byID[r.IDNumber]; dup {
			return nil, fmt.Errorf("proofing: demo register: person %d: ID number appears twice", i+1)
		}
		d.byID[r.IDNumber] = r
		d.people = append(d.people, r)
	}
	return d, nil
}

// checkRecord checks what the register promises about a record.
func checkRecord(r Record) error {
	canonical, err := NormalizeIDNumber(r.IDNumber)
	if err != nil {
		return fmt.Errorf("ID number: %w", err)
	}
	if canonical != r.IDNumber {
		return fmt.Errorf("ID number not in canonical form")
	}
	if strings.TrimSpace(r.Surname) == "" || strings.TrimSpace(r.GivenNames) == "" {
		return fmt.Errorf("English surname or given names missing")
	}
	if _, err := time.Parse(time.DateOnly, r.BirthDate); err != nil {
		return fmt.Errorf("birth date: %w", err)
	}
	switch r.Gender {
	case "M", "F", "X":
	default:
		return fmt.Errorf("gender %q is not M, F or X", r.Gender)
	}
	return nil
}

// Lookup implements CivilRegister. A malformed q.IDNumber gives the error
// of NormalizeIDNumber (ErrIDNumberFormat or ErrIDNumberCheckDigit).
func (d *Demo) Lookup(ctx context.Context, q Query) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("proofing: demo register: %w", err)
	}
	id, err := NormalizeIDNumber(q.IDNumber)
	if err != nil {
		return Record{}, fmt.Errorf("proofing: demo register: %w", err)
	}
	r, ok := d.byID[id]
	if !ok || r.BirthDate != strings.TrimSpace(q.BirthDate) || !matchesName(r, q.Name) {
		return Record{}, ErrNoMatch
	}
	return r, nil
}

// People returns every person in the register, in file order (the fixed
// people first). The slice is a copy.
func (d *Demo) People() []Record {
	return append([]Record(nil), d.people...)
}
