package eidpflow

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eidp/bench/loadgen"
	"eidp/signing/pdf"
)

// The signing scenarios against the real binary, seeded with
// certificates (`eidp dev seed --certificates`), behind a proxy that can
// break the server's answers: the issuer is the proxy's address, so
// discovery, WebAuthn origins and approval URIs all go through it.

const signingResidents = 4

// tamperProxy forwards everything to the server; tamper, when set, may
// rewrite the body of an answer to a path.
type tamperProxy struct {
	tamper atomic.Pointer[func(path string, body []byte) []byte]
}

func (p *tamperProxy) set(f func(path string, body []byte) []byte) {
	if f == nil {
		p.tamper.Store(nil)
		return
	}
	p.tamper.Store(&f)
}

type signingServer struct {
	cfg   SigningConfig
	proxy *tamperProxy
	logs  *logBuffer
}

// signingServer seeds residents with certificates into a new SQLite
// database and starts eidp on it behind a tamperProxy.
func startSigningServer(t *testing.T) *signingServer {
	t.Helper()
	dir := t.TempDir()
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	issuer := "http://localhost:" + strconv.Itoa(proxyLn.Addr().(*net.TCPAddr).Port)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"EIDP_DATA_DIR=" + dir, "EIDP_DATABASE_URL=sqlite:" + filepath.Join(dir, "eidp.db"),
		"EIDP_ISSUER=" + issuer, "EIDP_ADDR=127.0.0.1:" + strconv.Itoa(port),
		"EIDP_TOKEN_RATE_LIMIT=0", "EIDP_CEREMONY_RATE_LIMIT=0"}
	seedCmd := exec.Command(binary, "dev", "seed", "--residents", strconv.Itoa(signingResidents),
		"--key-seed", hex.EncodeToString(keySeed), "--certificates")
	seedCmd.Env = env
	out, err := seedCmd.CombinedOutput()
	m := secretLine.FindSubmatch(out)
	if err != nil || m == nil || !strings.Contains(string(out), fmt.Sprintf("certificates: %d issued in", signingResidents)) {
		t.Fatalf("eidp dev seed --certificates: %v\n%s", err, out)
	}

	target, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(port))
	p := &tamperProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		f := p.tamper.Load()
		if f == nil {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = (*f)(resp.Request.URL.Path, body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	proxySrv := &http.Server{Handler: rp}
	go proxySrv.Serve(proxyLn)
	t.Cleanup(func() { proxySrv.Close() })

	cmd := exec.Command(binary, "serve")
	cmd.Env = env
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	up, done := make(chan struct{}, 1), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			if strings.Contains(sc.Text(), "eidp listening") {
				select {
				case up <- struct{}{}:
				default:
				}
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	select {
	case <-up:
	case err := <-done:
		t.Fatalf("eidp exited before listening: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("eidp did not start:\n%s", logs)
	}
	cfg := SigningConfig{LoginFlowConfig: LoginFlowConfig{Issuer: issuer, ClientID: "eidp-bench", ClientSecret: string(m[1]),
		KeySeed: keySeed, Residents: signingResidents}}
	return &signingServer{cfg: cfg, proxy: p, logs: logs}
}

func (s *signingServer) config(sads, pdfSize int) SigningConfig {
	cfg := s.cfg
	cfg.SADs, cfg.PDFSize = sads, pdfSize
	return cfg
}

// rewriteJSON returns a tamper function that edits the JSON answers of one
// CSC method.
func rewriteJSON(t *testing.T, method string, edit func(map[string]any)) func(string, []byte) []byte {
	return func(path string, body []byte) []byte {
		if path != cscBase+method {
			return body
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s answered no JSON object: %v", method, err)
			return body
		}
		edit(v)
		out, _ := json.Marshal(v)
		return out
	}
}

func TestSigningScenarios(t *testing.T) {
	s := startSigningServer(t)

	t.Run("sign-hash signs and verifies one SAD per iteration", func(t *testing.T) {
		sc, err := NewSignHash(s.config(12, 0))
		if err != nil {
			t.Fatal(err)
		}
		res := run(t, sc, 3, 12)
		if res.Iterations != 12 || len(res.Errors) != 0 {
			t.Fatalf("%d iterations, failures %v %v\n%s", res.Iterations, res.Errors, res.FirstErrors, s.logs)
		}
		if len(res.Notes) != 2 || res.Notes[0] != "12 signatures verified; 12 of 12 SADs used" ||
			!strings.Contains(res.Notes[1], "4 residents logged in, 12 SADs authorised and approved") {
			t.Errorf("notes: %q", res.Notes)
		}
		// Each SAD was for its own digest, and the residents take turns.
		h := sc.(*SignHash)
		digests := map[string]bool{}
		for i, a := range h.sads {
			digests[string(a.digest)] = true
			if want := h.sads[i%signingResidents].cred; a.cred != want {
				t.Errorf("SAD %d is not resident %d's", i, i%signingResidents)
			}
		}
		if len(digests) != 12 || h.sads[0].cred.id == h.sads[1].cred.id {
			t.Errorf("%d distinct digests; residents 0 and 1 share credential %q", len(digests), h.sads[0].cred.id)
		}
	})

	t.Run("a spent SAD is refused by the server", func(t *testing.T) {
		sc, err := NewSignHash(s.config(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if res := run(t, sc, 1, 1); res.Iterations != 1 {
			t.Fatalf("first use: %v %v", res.Errors, res.FirstErrors)
		}
		// Used again (without a new Setup): the server must say so, and the
		// scenario must fail.
		h := sc.(*SignHash)
		h.next.Store(0)
		err = h.Do(context.Background(), &loadgen.Worker{Client: loadgen.NewHTTPClient(1)})
		var f *loadgen.Failure
		if !errors.As(err, &f) || f.Kind != KindSignHash || !strings.Contains(f.Detail, "status 400") {
			t.Fatalf("a second use of a SAD: %v", err)
		}
	})

	t.Run("more iterations than SADs fail", func(t *testing.T) {
		sc, err := NewSignHash(s.config(2, 0))
		if err != nil {
			t.Fatal(err)
		}
		res := run(t, sc, 1, 3)
		if res.Iterations != 2 || res.Errors[KindSADsUsedUp] != 1 || !strings.Contains(res.FirstErrors[KindSADsUsedUp], "bound the run with -max") {
			t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
		}
	})

	t.Run("a signature that does not verify is a failure", func(t *testing.T) {
		sc, err := NewSignHash(s.config(3, 0))
		if err != nil {
			t.Fatal(err)
		}
		s.proxy.set(rewriteJSON(t, "signatures/signHash", func(v map[string]any) {
			sigs := v["signatures"].([]any)
			sig, _ := base64.StdEncoding.DecodeString(sigs[0].(string))
			sig[len(sig)-1] ^= 1
			sigs[0] = base64.StdEncoding.EncodeToString(sig)
		}))
		defer s.proxy.set(nil)
		res := run(t, sc, 1, 3)
		if res.Iterations != 0 || res.Errors[KindSignature] != 3 {
			t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
		}
	})

	t.Run("a wrong number of signatures is a failure", func(t *testing.T) {
		sc, err := NewSignHash(s.config(2, 0))
		if err != nil {
			t.Fatal(err)
		}
		s.proxy.set(rewriteJSON(t, "signatures/signHash", func(v map[string]any) {
			v["signatures"] = append(v["signatures"].([]any), v["signatures"].([]any)[0])
		}))
		defer s.proxy.set(nil)
		res := run(t, sc, 1, 2)
		if res.Iterations != 0 || res.Errors[KindSignHash] != 2 || !strings.Contains(res.FirstErrors[KindSignHash], "2 signatures for one hash") {
			t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
		}
	})

	t.Run("pades signs the PDF and the signature verifies", func(t *testing.T) {
		// 1.2 MB: a signDoc body above the default max_body_bytes (1 MiB).
		sc, err := NewPAdES(s.config(3, 1200<<10))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var signed [][]byte
		s.proxy.set(rewriteJSON(t, "signatures/signDoc", func(v map[string]any) {
			doc, _ := base64.StdEncoding.DecodeString(v["DocumentWithSignature"].([]any)[0].(string))
			mu.Lock()
			signed = append(signed, doc)
			mu.Unlock()
		}))
		res := run(t, sc, 2, 3)
		s.proxy.set(nil)
		if res.Iterations != 3 || len(res.Errors) != 0 {
			t.Fatalf("%d iterations, failures %v %v\n%s", res.Iterations, res.Errors, res.FirstErrors, s.logs)
		}
		if len(res.Notes) != 2 || !strings.HasPrefix(res.Notes[0], "3 PAdES B-T signatures of a ") {
			t.Errorf("notes: %q", res.Notes)
		}
		p := sc.(*PAdES)
		sum := sha256.Sum256(p.doc)
		if len(p.sads) != 3 || !bytes.Equal(p.sads[2].digest, sum[:]) {
			t.Fatalf("the SADs are not for the document's SHA-256")
		}
		if len(signed) != 3 {
			t.Fatalf("%d signed documents seen", len(signed))
		}

		// What check refuses, on a real signed document: the one of SAD 0's
		// resident (the workers finished in any order).
		a := p.sads[0]
		var good []byte
		for _, doc := range signed {
			if p.check(doc, a) == nil {
				good = doc
			}
		}
		if good == nil {
			t.Fatalf("none of the signed documents the run accepted passes the check with SAD 0's credential")
		}
		other := a
		for _, b := range p.sads {
			if b.cred.id != a.cred.id {
				other.cred = b.cred
				break
			}
		}
		reason := bytes.LastIndex(good, []byte("eidp load generator"))
		if reason < len(p.doc) {
			t.Fatalf("the signature's /Reason is not in the update")
		}
		for name, tc := range map[string]struct {
			doc  []byte
			a    activationData
			want string
		}{
			"the original document":            {p.doc, a, "not the document followed by an incremental update"},
			"a changed original byte":          {flip(good, len(p.doc)/2), a, "not the document followed by an incremental update"},
			"a changed byte of the update":     {flip(good, reason), a, "does not verify over the ByteRange"},
			"a cut-off file":                   {good[:len(good)-200], a, "the signed PDF"},
			"another resident's credential":    {good, other, "not made with the credential's certificate"},
			"the document without a signature": {append(bytes.Clone(p.doc), "\n%%EOF\n"...), a, "signatures, want"},
		} {
			err := p.check(tc.doc, tc.a)
			var f *loadgen.Failure
			if !errors.As(err, &f) || f.Kind != KindSignature || !strings.Contains(f.Detail, tc.want) {
				t.Errorf("%s: %v, want a %s failure saying %q", name, err, KindSignature, tc.want)
			}
		}
	})

	t.Run("pades with a document the SADs were not for fails at signDoc", func(t *testing.T) {
		sc, err := NewPAdES(s.config(1, 100<<10))
		if err != nil {
			t.Fatal(err)
		}
		p := sc.(*PAdES)
		if err := p.Setup(context.Background(), &loadgen.Env{Client: loadgen.NewHTTPClient(1), Workers: 1}); err != nil {
			t.Fatal(err)
		}
		// Another document than the approved one: a SAD does not stretch.
		other, err := GeneratePDF(101 << 10)
		if err != nil {
			t.Fatal(err)
		}
		p.doc, p.docB64 = other, base64.StdEncoding.EncodeToString(other)
		err = p.Do(context.Background(), &loadgen.Worker{Client: loadgen.NewHTTPClient(1)})
		var f *loadgen.Failure
		if !errors.As(err, &f) || f.Kind != KindSignDoc || !strings.Contains(f.Detail, "status 400") {
			t.Fatalf("signDoc of an unapproved document: %v", err)
		}
	})

	t.Run("the scenarios take their flags", func(t *testing.T) {
		fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
		loadgen.DefineFlags(fs)
		pdfFile := filepath.Join(t.TempDir(), "doc.pdf")
		doc, err := GeneratePDF(50 << 10)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(pdfFile, doc, 0o600)
		err = fs.Parse([]string{"-issuer", s.cfg.Issuer, "-client-id", s.cfg.ClientID, "-client-secret", s.cfg.ClientSecret,
			"-key-seed", hex.EncodeToString(keySeed), "-residents", "2", "-first-resident", "1", "-sads", "2", "-pdf", pdfFile})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{ScenarioSignHash, ScenarioPAdES} {
			sc, err := loadgen.New(name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if res := run(t, sc, 2, 2); res.Iterations != 2 || len(res.Errors) != 0 {
				t.Fatalf("%s: %d iterations, failures %v %v", name, res.Iterations, res.Errors, res.FirstErrors)
			}
			if name == ScenarioPAdES && !bytes.Equal(sc.(*PAdES).doc, doc) {
				t.Errorf("pades did not sign the -pdf file")
			}
		}
		if err := fs.Set("sads", "0"); err != nil {
			t.Fatal(err)
		}
		if _, err := loadgen.New(ScenarioSignHash); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "-sads") {
			t.Fatalf("no -sads: %v", err)
		}
	})
}

// The signing scenarios need residents with certificates: without them
// the run does not start, and says why.
func TestSignHashWithoutCertificatesFailsSetup(t *testing.T) {
	s := server(t) // seeded without --certificates
	cfg := SigningConfig{LoginFlowConfig: s.config(), SADs: 2}
	sc, err := NewSignHash(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadgen.Run(context.Background(), sc, loadgen.Options{Workers: 1, MaxIterations: 1})
	var f *loadgen.Failure
	if !errors.Is(err, loadgen.ErrSetup) || !errors.As(err, &f) || f.Kind != KindConsent {
		t.Fatalf("sign-hash on a population without certificates: %v", err)
	}
}

func TestSigningConfigIsChecked(t *testing.T) {
	good := SigningConfig{LoginFlowConfig: LoginFlowConfig{Issuer: "http://localhost:8080", ClientID: "c", ClientSecret: "s",
		KeySeed: keySeed, Residents: 1}, SADs: 10}
	for name, edit := range map[string]func(*SigningConfig){
		"no SADs":            func(c *SigningConfig) { c.SADs = 0 },
		"too many SADs":      func(c *SigningConfig) { c.SADs = MaxSADs + 1 },
		"a negative size":    func(c *SigningConfig) { c.PDFSize = -1 },
		"too large a size":   func(c *SigningConfig) { c.PDFSize = MaxPDFSize + 1 },
		"too large a PDF":    func(c *SigningConfig) { c.PDF = make([]byte, MaxPDFSize+1) },
		"no issuer":          func(c *SigningConfig) { c.Issuer = "" },
		"a short key seed":   func(c *SigningConfig) { c.KeySeed = keySeed[:8] },
		"no residents":       func(c *SigningConfig) { c.Residents = 0 },
		"an issuer not http": func(c *SigningConfig) { c.Issuer = "ftp://x" },
	} {
		cfg := good
		edit(&cfg)
		if _, err := NewSignHash(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewSignHash = %v, want ErrConfig", name, err)
		}
	}
	bad := good
	bad.PDF = []byte("%PDF-1.7\nnot really\n")
	if _, err := NewPAdES(bad); !errors.Is(err, ErrConfig) {
		t.Errorf("a PDF that does not open: %v, want ErrConfig", err)
	}
	if _, err := NewSignHash(good); err != nil {
		t.Fatalf("a good config: %v", err)
	}
}

func TestGeneratePDF(t *testing.T) {
	for _, size := range []int{4 << 10, 300 << 10, DefaultPDFSize} {
		a, err := GeneratePDF(size)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := GeneratePDF(size)
		if !bytes.Equal(a, b) {
			t.Errorf("%d bytes: two runs gave different documents", size)
		}
		if d := len(a) - size; d < -8<<10 || d > 8<<10 {
			t.Errorf("asked for %d bytes, got %d", size, len(a))
		}
		doc, err := pdf.Open(bytes.NewReader(a), int64(len(a)), pdf.Limits{})
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if sigs, err := doc.Signatures(); err != nil || len(sigs) != 0 {
			t.Errorf("%d bytes: signatures %d, %v", size, len(sigs), err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}
