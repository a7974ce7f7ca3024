package proofing

import (
	"errors"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Level
		err   error
	}{
		{"the name substantial parses", "substantial", Substantial, nil},
		{"the name high parses", "high", High, nil},
		{"the ACR of substantial parses", "urn:eidp:acr:substantial", Substantial, nil},
		{"the ACR of high parses", "urn:eidp:acr:high", High, nil},
		{"an eIDAS level we do not offer is refused", "low", "", ErrUnknownLevel},
		{"names are case-sensitive like ACR values", "High", "", ErrUnknownLevel},
		{"an empty string is refused", "", "", ErrUnknownLevel},
		{"another provider's ACR is refused", "urn:mace:incommon:iap:silver", "", ErrUnknownLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLevel(tt.input)
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("ParseLevel(%q) = %q, %v; want %q, %v", tt.input, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestLevelACRValuesAreTheDocumentedURNs(t *testing.T) {
	for l, want := range map[Level]string{
		Substantial: "urn:eidp:acr:substantial",
		High:        "urn:eidp:acr:high",
		Level("x"):  "",
	} {
		if got := l.ACR(); got != want {
			t.Errorf("%q.ACR() = %q, want %q", l, got, want)
		}
	}
}

func TestLevelAtLeast(t *testing.T) {
	tests := []struct {
		name      string
		l, other  Level
		satisfies bool
	}{
		{"high satisfies substantial", High, Substantial, true},
		{"high satisfies high", High, High, true},
		{"substantial satisfies substantial", Substantial, Substantial, true},
		{"substantial does not satisfy high", Substantial, High, false},
		{"an unknown level satisfies nothing", Level("max"), Substantial, false},
		{"nothing satisfies an unknown level", High, Level(""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.AtLeast(tt.other); got != tt.satisfies {
				t.Fatalf("%q.AtLeast(%q) = %v, want %v", tt.l, tt.other, got, tt.satisfies)
			}
		})
	}
}

func TestLevelsAreListedLowestFirst(t *testing.T) {
	ls := Levels()
	if len(ls) != 2 || ls[0] != Substantial || ls[1] != High {
		t.Fatalf("Levels() = %v", ls)
	}
	ls[0] = "changed"
	if Levels()[0] != Substantial {
		t.Fatal("Levels() returned the package's own slice")
	}
}
