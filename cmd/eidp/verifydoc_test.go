package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"eidp/hsm/keyring"
	"eidp/internal/config"
	"eidp/internal/testenv"
	"eidp/signing/ca"
	"eidp/signing/cms/cmstest"
	"eidp/signing/jades"
	"eidp/signing/tsa"
	"eidp/signing/verify"
)

var testTSAPolicy, _ = x509.ParseOID("1.3.6.1.4.1.99999.2")

// has reports whether the human-readable report has a line "label: value…".
func has(out, label, value string) bool {
	return regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(label) + `:\s+` + regexp.QuoteMeta(value)).MatchString(out)
}

// verifyDoc runs the command in-process and returns its output.
func verifyDoc(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = runVerifyDocument(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// With --root the command trusts that file and asks the signer's OCSP
// responder (here one made with x/crypto/ocsp).
func TestVerifyDocumentWithRoot(t *testing.T) {
	t.Setenv("EIDP_DATA_DIR", t.TempDir())
	pki := cmstest.NewPKI(t)
	revoked := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, "bad request", 400)
			return
		}
		tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber, ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}
		if revoked {
			tmpl.Status, tmpl.RevokedAt = ocsp.Revoked, time.Now().Add(-time.Hour)
		}
		der, _ := ocsp.CreateResponse(pki.Intermediate, pki.Intermediate, tmpl, pki.IntKey)
		w.Write(der)
	}))
	defer srv.Close()
	key := cmstest.NewKey(t, "P-256")
	cert := pki.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Chan Tai Man"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, OCSPServer: []string{srv.URL}}, key.Public())
	payload := []byte(`{"form":"parking-permit"}`)
	jws, err := jades.Sign(context.Background(), key, payload, jades.SignOptions{Certificate: cert, Chain: []*x509.Certificate{pki.Intermediate}, Detached: true})
	if err != nil {
		t.Fatal(err)
	}
	sigFile, contentFile := writeFile(t, "form.jws", jws), writeFile(t, "form.json", payload)

	out, _, err := verifyDoc(t, sigFile, "--content", contentFile, "--root", pki.RootPEM)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if !strings.Contains(out, "(JAdES): TOTAL_PASSED") || !has(out, "Signer", "Chan Tai Man (serial ") || !has(out, "Level", "B-B") ||
		!has(out, "Status", "good") || !has(out, "Coverage", "whole document") {
		t.Errorf("output:\n%s", out)
	}

	// Flags before the file, JSON output, and the revoked answer: exit 1.
	revoked = true
	out, _, err = verifyDoc(t, "--json", "--root", pki.RootPEM, "--content", contentFile, sigFile)
	if !errors.Is(err, errNotPassed) {
		t.Fatalf("err = %v", err)
	}
	var rep verify.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Indication != verify.TotalFailed || rep.SubIndication != verify.Revoked || rep.Signatures[0].CertificateStatus != "revoked" {
		t.Errorf("report %+v", rep)
	}
	if errors.Is(err, errUsage) || errors.Is(err, config.ErrInvalid) {
		t.Errorf("a failed validation would exit as a usage error: %v", err) // run() maps other errors to exit 1
	}

	// Trusting another root: INDETERMINATE, exit 1.
	other := cmstest.NewPKI(t)
	out, _, err = verifyDoc(t, sigFile, "--content", contentFile, "--root", other.RootPEM)
	if !errors.Is(err, errNotPassed) || !strings.Contains(out, "INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND") {
		t.Errorf("err %v\n%s", err, out)
	}
}

func TestVerifyDocumentRejectsBadUse(t *testing.T) {
	t.Setenv("EIDP_DATA_DIR", t.TempDir())
	pki := cmstest.NewPKI(t)
	text := writeFile(t, "notes.txt", []byte("not signed"))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"--root", pki.RootPEM}, "name one signed file"},
		{"two files", []string{text, text, "--root", pki.RootPEM}, "name one signed file"},
		{"a missing file", []string{filepath.Join(t.TempDir(), "nope.pdf"), "--root", pki.RootPEM}, "no such file"},
		{"a root file without certificates", []string{text, "--root", text}, "holds no PEM certificate"},
		{"an unsigned file", []string{text, "--root", pki.RootPEM}, "is not a signed PDF"},
		{"an unknown flag", []string{text, "--frobnicate"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := verifyDoc(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
				t.Errorf("err = %v, output %q; want %q", err, out, tc.want)
			}
		})
	}
}

// Without --root the command trusts the configured CA and reads statuses
// from its database: a resident's certificate issued by it, a time-stamp
// from its TSA.
func TestVerifyDocumentWithConfiguredCA(t *testing.T) {
	ctx := context.Background()
	env := []string{"EIDP_DATABASE_URL=" + testenv.SQLite(t), "EIDP_DATA_DIR=" + t.TempDir()}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := config.NewLoader().Load(env)
	if err != nil {
		t.Fatal(err)
	}
	d, km, closeAll, err := openDatabaseAndKeys(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.New(d, keyring.New(d, km), km, caConfig(cfg))
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	if _, err := authority.Init(ctx); err != nil {
		closeAll()
		t.Fatal(err)
	}
	cert, err := authority.Issue(ctx, ca.IssueRequest{ResidentID: "resident-1", GivenName: "Tai Man", FamilyName: "Chan", Level: ca.LevelHigh})
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	signer, _, err := authority.Signer(ctx, cert.ID)
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	tsaSigner, tsaCert, tsaChain, err := authority.TSA(ctx)
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	stamper, err := tsa.New(tsaSigner, tsaCert, tsaChain, testTSAPolicy)
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	sign := func(timestamp bool) string {
		opts := jades.SignOptions{Certificate: cert.Cert, Chain: cert.Chain, SigningTime: time.Now().Add(-time.Minute)}
		if timestamp {
			opts.Timestamp = func(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
				return stamper.Stamp(ctx, h, digest, nil, true)
			}
		}
		jws, err := jades.Sign(ctx, signer, []byte(`{"form":"parking-permit"}`), opts)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, "form.jws", jws)
	}
	bb, bt := sign(false), sign(true)

	for _, f := range []string{bb, bt} {
		if out, _, err := verifyDoc(t, f); err != nil || !strings.Contains(out, "TOTAL_PASSED") || !has(out, "Status", "good") || !has(out, "Chain", "CN=Tai Man CHAN,") {
			t.Fatalf("before revocation: %v\n%s", err, out)
		}
	}
	if err := authority.Revoke(ctx, cert.ID, 1, "test"); err != nil {
		t.Fatal(err)
	}
	closeAll()

	out, _, err := verifyDoc(t, bb)
	if !errors.Is(err, errNotPassed) || !strings.Contains(out, "INDETERMINATE / REVOKED_NO_POE") || !has(out, "Status", "revoked at ") {
		t.Errorf("B-B after revocation: %v\n%s", err, out)
	}
	out, _, err = verifyDoc(t, bt)
	if err != nil || !strings.Contains(out, "TOTAL_PASSED") || !has(out, "Level", "B-T") || !has(out, "Time-stamp", "20") {
		t.Errorf("B-T after revocation: %v\n%s", err, out)
	}
}
