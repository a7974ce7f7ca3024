package proofing

import (
	"errors"
	"fmt"
)

// Level is an identity assurance level: how sure we are that an account
// belongs to the person it names, which depends on how that person was
// proofed. The two levels follow the eIDAS levels of the same names
// (Commission Implementing Regulation (EU) 2015/1502, Annex §2.1.2), the
// nearest published scale for a government eID.
type Level string

const (
	// Substantial: remote self-service proofing — the person showed
	// knowledge of their ID number, birth date and name, checked against
	// the civil register (Proofer.Proof), and bound a passkey.
	Substantial Level = "substantial"
	// High: attended proofing — staff at a counter inspected the card and
	// its holder in person.
	High Level = "high"
)

// ErrUnknownLevel: the text names no assurance level.
var ErrUnknownLevel = errors.New("proofing: unknown assurance level")

// levels lists every level, lowest first; a level's index is its rank.
var levels = []Level{Substantial, High}

// Levels returns every assurance level, lowest first.
func Levels() []Level { return append([]Level(nil), levels...) }

// ParseLevel returns the level named by s: its name ("substantial",
// "high") or its ACR value ("urn:eidp:acr:substantial", …), so that it can
// read both configuration and a relying party's acr_values.
func ParseLevel(s string) (Level, error) {
	for _, l := range levels {
		if s == string(l) || s == l.ACR() {
			return l, nil
		}
	}
	return "", fmt.Errorf("%w: %q (want one of substantial, high)", ErrUnknownLevel, s)
}

// ACR returns the Authentication Context Class Reference of the level:
// "urn:eidp:acr:substantial" or "urn:eidp:acr:high", "" for an unknown
// level. These are the acr values the OpenID Provider publishes in its
// discovery document (acr_values_supported, OpenID Connect Discovery 1.0
// §3), puts in ID tokens (the acr claim, OpenID Connect Core 1.0 §2) and
// accepts in acr_values (Core §3.1.2.1). They are URNs of our own because
// no registry assigns values for these levels; relying parties must treat
// them as opaque strings.
func (l Level) ACR() string {
	if l.rank() < 0 {
		return ""
	}
	return "urn:eidp:acr:" + string(l)
}

// AtLeast reports whether l is as strong as other or stronger. An unknown
// level is never at least anything, and nothing is at least an unknown
// level, so that a typo fails closed.
func (l Level) AtLeast(other Level) bool {
	r, o := l.rank(), other.rank()
	return r >= 0 && o >= 0 && r >= o
}

// String returns the level's name.
func (l Level) String() string { return string(l) }

func (l Level) rank() int {
	for i, x := range levels {
		if x == l {
			return i
		}
	}
	return -1
}
