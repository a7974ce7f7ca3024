package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// axe-core (conformance/a11y, installed by ./scripts/test with npm ci) is
// the accessibility engine browsers' developer tools use. It is injected
// into each page and checked against the WCAG 2.0–2.2 A and AA rules.
var axePath = filepath.Join("a11y", "node_modules", "axe-core", "axe.min.js")

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(axePath)
	return string(b), err
})

// axeRun reports each violated rule with the elements that violate it.
const axeRun = `axe.run(document, {
	runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
	resultTypes: ["violations"]
}).then(r => r.violations.map(v => v.id + " (" + v.impact + "): " + v.help + " — " +
	v.nodes.map(n => n.target.join(" ")).join(", ")))`

// checkAccessibility fails the test on any WCAG A/AA violation axe finds on
// the tab's current page. Without axe-core installed it fails under CI=true
// and only logs elsewhere.
func checkAccessibility(t *testing.T, tb *tab, page string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		msg := "axe-core is not installed (" + err.Error() + "): run npm ci --prefix conformance/a11y (./scripts/test does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg)
		return
	}
	if eval[string](tb, `typeof axe`) == "undefined" {
		eval[bool](tb, src+"\n;true")
	}
	if violations := eval[[]string](tb, axeRun); len(violations) > 0 {
		tb.fatalf("%s: WCAG violations found by axe-core:\n  %s", page, strings.Join(violations, "\n  "))
	}
}
