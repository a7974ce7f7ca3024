package pdftest

import (
	"eidp/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Result is what poppler's pdfsig says of one signature.
type Result struct {
	Field string // the signature field's name
	Text  string // pdfsig's whole paragraph about it
}

var (
	signatureHeading = regexp.MustCompile(`(?m)^Signature #\d+:`)
	fieldName        = regexp.MustCompile(`Signature Field Name: (.*)`)
)

// Pdfsig validates pdf with poppler's pdfsig (poppler-utils), trusting the
// root certificate in rootPEM (a PEM file) in a fresh NSS database, and
// returns one Result per signature; no signature at all fails the test.
//
// Measured with poppler 22.12: -no-ocsp turns every trusted chain into
// "Unknown issue with Certificate", and the root needs trust "C,C,C"
// ("C,," gives "issuer isn't Trusted"); so pdfsig runs online, asking the
// OCSP responder a certificate's AIA names, if any.
func Pdfsig(t testing.TB, rootPEM string, pdf []byte) []Result {
	t.Helper()
	bin := testenv.Tool(t, "pdfsig", "poppler-utils")
	certutil := testenv.Tool(t, "certutil", "libnss3-tools")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + dir, "--empty-password"},
		{"-A", "-d", "sql:" + dir, "-n", "root", "-t", "C,C,C", "-i", rootPEM},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	file := filepath.Join(dir, "signed.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, "-nssdir", "sql:"+dir, file).CombinedOutput()
	var res []Result
	for _, p := range signatureHeading.Split(string(out), -1)[1:] {
		r := Result{Text: p}
		if m := fieldName.FindStringSubmatch(p); m != nil {
			r.Field = strings.TrimSpace(m[1])
		}
		res = append(res, r)
	}
	if len(res) == 0 {
		t.Fatalf("pdfsig found no signature:\n%s", out)
	}
	return res
}

// WantValid asserts what a PAdES signature must show in pdfsig: valid,
// trusted, ETSI.CAdES.detached; total says whether it must cover the whole
// file (else a signed revision: "Not total document signed").
func (r Result) WantValid(t testing.TB, total bool) {
	t.Helper()
	for _, want := range []string{"Signature is Valid", "Certificate is Trusted", "ETSI.CAdES.detached"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("pdfsig, field %s: no %q in\n%s", r.Field, want, r.Text)
		}
	}
	notTotal := strings.Contains(r.Text, "Not total document signed")
	switch {
	case total && (notTotal || !strings.Contains(r.Text, "Total document signed")):
		t.Errorf("pdfsig, field %s: not total document signed:\n%s", r.Field, r.Text)
	case !total && !notTotal:
		t.Errorf("pdfsig, field %s: total document signed, want a signed revision:\n%s", r.Field, r.Text)
	}
}
