package proofing

import (
	"context"
	"errors"
	"strings"
	"unicode"
)

// Record is a person as the civil register knows them.
type Record struct {
	IDNumber   string // canonical, see NormalizeIDNumber
	Surname    string // English, as on the card, e.g. "CHAN"
	GivenNames string // English, e.g. "Tai Man"
	NameZH     string // Chinese name in Traditional characters, "" if none
	BirthDate  string // YYYY-MM-DD
	Gender     string // "M", "F" or "X"
	CardValid  bool   // false for cancelled/invalid cards
}

// Query is what a person proving their identity enters.
type Query struct {
	IDNumber  string // as typed; see NormalizeIDNumber for what is accepted
	BirthDate string // YYYY-MM-DD
	// Name is the English name, surname first ("CHAN Tai Man") or given
	// names first ("Tai Man CHAN"), compared ignoring letter case, spaces
	// and punctuation ("chan, tai-man" matches too); or the Chinese name
	// exactly as registered, in Traditional characters (spaces ignored).
	Name string
}

// ErrNoMatch: the ID number, the birth date and the name do not all match
// one person in the register. It deliberately does not say which part
// failed, nor whether the ID number exists.
var ErrNoMatch = errors.New("proofing: no person in the civil register matches these details")

// CivilRegister is the authority that says who a person is: the Immigration
// Department's register of persons in production, DemoRegister elsewhere.
type CivilRegister interface {
	// Lookup returns the record of the person whose ID number, birth date
	// and name all match q, cancelled cards included (CardValid false).
	// It returns ErrNoMatch when they do not all match one person, without
	// saying which part failed; other errors mean the register could not
	// answer. q.IDNumber may be in any form NormalizeIDNumber accepts.
	Lookup(ctx context.Context, q Query) (Record, error)
}

// matchesName reports whether the name a person typed names r: the English
// name in either order, or the Chinese name. An empty name never matches,
// so that a record without a Chinese name is not matched by "".
func matchesName(r Record, typed string) bool {
	if zh := strings.Join(strings.Fields(typed), ""); zh != "" && r.NameZH != "" && zh == r.NameZH {
		return true
	}
	key := nameKey(typed)
	if key == "" {
		return false
	}
	return key == nameKey(r.Surname+r.GivenNames) || key == nameKey(r.GivenNames+r.Surname)
}

// nameKey reduces an English name to its letters and digits in upper case:
// what is left once case, spaces and punctuation (commas, hyphens,
// apostrophes, full stops) are ignored. Separators are dropped rather than
// collapsed because people write "Tai Man", "Tai-man" and "Taiman" for the
// same given name.
func nameKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}
