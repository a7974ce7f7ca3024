package pdf

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto"
	"crypto/x509"
	"eidp/internal/testenv"
	"eidp/signing/pdf/pdftest"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"eidp/signing/cms"
	"eidp/signing/cms/cmstest"
)

// fpdfDocument makes a classic-xref PDF with pages pages of text and
// about imageBytes of incompressible images (to make large files).
func fpdfDocument(t testing.TB, pages, imageBytes int) []byte {
	t.Helper()
	b, err := pdftest.Document(pdftest.Options{Title: "Test document for signing/pdf", Pages: pages, ImageBytes: imageBytes, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// qpdfObjectStreams rewrites pdf with object streams and an xref stream.
func qpdfObjectStreams(t testing.TB, pdf []byte) []byte {
	t.Helper()
	qpdf := testenv.Tool(t, "qpdf", "qpdf")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(qpdf, "--object-streams=generate", in, out).CombinedOutput(); err != nil {
		t.Fatalf("qpdf: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handDocument is a small PDF written here byte by byte, so the parser is
// tested on exactly known structures.
type handDocument struct {
	objs       map[int]string // object number → body (without "n 0 obj")
	inObjStm   []int          // objects put into one object stream
	xrefStream bool           // xref stream (PNG Up predictor, Flate) instead of a table
	trailer    string         // extra trailer entries
	prev       int64          // /Prev to write (0: none)
	stmLength  string         // the object stream's /Length, if not the true one
}

func baseObjects() map[int]string {
	content := "BT /F1 24 Tf 72 700 Td (Hand-made PDF) Tj ET"
	return map[int]string{
		1: "<< /Type /Catalog /Pages 2 0 R >>",
		2: "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		3: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> /Annots [] >>",
		4: fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		5: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
}

func flate(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := zlib.NewWriter(&out)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func (h handDocument) bytes(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	size := 0
	for n := range h.objs {
		size = max(size, n+1)
	}
	type entry struct {
		typ      byte
		off, idx int64
	}
	entries := map[int]entry{}
	nums := make([]int, 0, len(h.objs))
	for n := range h.objs {
		if !slices.Contains(h.inObjStm, n) {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for _, n := range nums {
		entries[n] = entry{typ: 1, off: int64(b.Len())}
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", n, h.objs[n])
	}
	if len(h.inObjStm) > 0 {
		stm := size
		size++
		var head, body bytes.Buffer
		for i, n := range h.inObjStm {
			fmt.Fprintf(&head, "%d %d ", n, body.Len())
			body.WriteString(h.objs[n] + "\n")
			entries[n] = entry{typ: 2, off: int64(stm), idx: int64(i)}
		}
		data := flate(t, append(head.Bytes(), body.Bytes()...))
		entries[stm] = entry{typ: 1, off: int64(b.Len())}
		length := fmt.Sprint(len(data))
		if h.stmLength != "" {
			length = h.stmLength
		}
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %s >>\nstream\n",
			stm, len(h.inObjStm), head.Len(), length)
		b.Write(data)
		b.WriteString("\nendstream\nendobj\n")
	}
	prev := ""
	if h.prev != 0 {
		prev = fmt.Sprintf(" /Prev %d", h.prev)
	}
	start := b.Len()
	if h.xrefStream {
		self := size
		size++
		entries[self] = entry{typ: 1, off: int64(start)}
		// Rows of 1+4+2 bytes, each preceded by PNG filter type 2 (Up).
		var raw []byte
		prevRow := make([]byte, 7)
		for n := range size {
			e, ok := entries[n]
			row := make([]byte, 7)
			if ok {
				row[0] = e.typ
				v := e.off
				row[1], row[2], row[3], row[4] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
				row[5], row[6] = byte(e.idx>>8), byte(e.idx)
			} else {
				row[5], row[6] = 0xFF, 0xFF
			}
			raw = append(raw, 2)
			for i := range row {
				raw = append(raw, row[i]-prevRow[i])
			}
			prevRow = row
		}
		data := flate(t, raw)
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode "+
			"/DecodeParms << /Predictor 12 /Columns 7 >> /Length %d%s%s >>\nstream\n", self, size, len(data), prev, h.trailer)
		b.Write(data)
		b.WriteString("\nendstream\nendobj\n")
	} else {
		fmt.Fprintf(&b, "xref\n0 %d\n", size)
		for n := range size {
			e, ok := entries[n]
			if ok && e.typ == 1 {
				fmt.Fprintf(&b, "%010d 00000 n \n", e.off)
			} else {
				b.WriteString("0000000000 65535 f \n")
			}
		}
		fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R%s%s >>\n", size, prev, h.trailer)
	}
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", start)
	return b.Bytes()
}

func open(t testing.TB, b []byte) *Document {
	t.Helper()
	d, err := Open(bytes.NewReader(b), int64(len(b)), Limits{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

// signer is a resident key with its certificate from a throw-away PKI.
type signer struct {
	pki  *cmstest.PKI
	key  crypto.Signer
	cert *x509.Certificate
}

func newSigner(t testing.TB, pki *cmstest.PKI, name string) signer {
	t.Helper()
	key := cmstest.NewKey(t, "P-256")
	return signer{pki: pki, key: key, cert: pki.IssueSigner(t, key.Public(), name)}
}

// sign runs Prepare, Digest, cms.SignDigest and WriteTo.
func (s signer) sign(t testing.TB, pdf []byte, opts SignOptions) []byte {
	t.Helper()
	p, err := open(t, pdf).Prepare(opts)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	digest, err := p.Digest(crypto.SHA256)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	der, err := cms.SignDigest(context.Background(), s.key, digest, cms.SignOptions{
		Hash: crypto.SHA256, Certificate: s.cert, Chain: []*x509.Certificate{s.pki.Intermediate},
	})
	if err != nil {
		t.Fatalf("cms.SignDigest: %v", err)
	}
	var out bytes.Buffer
	n, err := p.WriteTo(&out, der)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(out.Len()) || n != p.Size() {
		t.Fatalf("WriteTo returned %d, wrote %d, Size %d", n, out.Len(), p.Size())
	}
	if !bytes.HasPrefix(out.Bytes(), pdf) {
		t.Fatal("the signed document does not start with the original bytes")
	}
	return out.Bytes()
}

// testTime is now: pdfsig checks the certificate at the /M time, and the test
// PKI's certificates are valid from an hour ago.
var testTime = time.Now().Truncate(time.Second).In(time.FixedZone("HKT", 8*3600))

// hybridDocument is a hybrid-reference file (ISO 32000-1 §7.5.8.4): a
// classic table listing the plain objects and a trailer whose /XRefStm
// points at an xref stream listing the objects in an object stream.
func hybridDocument(t testing.TB) []byte {
	t.Helper()
	stm := handDocument{objs: baseObjects(), inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(t)
	i := bytes.LastIndex(stm, []byte("startxref"))
	var xrefStm int64
	if _, err := fmt.Sscanf(string(stm[i:]), "startxref\n%d", &xrefStm); err != nil {
		t.Fatal(err)
	}
	content := bytes.Index(stm, []byte("4 0 obj"))
	var b bytes.Buffer
	b.Write(stm[:i])
	start := b.Len()
	fmt.Fprintf(&b, "xref\n0 1\n0000000000 65535 f \n4 1\n%010d 00000 n \n", content)
	fmt.Fprintf(&b, "trailer\n<< /Size 8 /Root 1 0 R /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n", xrefStm, start)
	return b.Bytes()
}

// pdfsig validates pdf with poppler's pdfsig, trusting pki's root.
func pdfsig(t testing.TB, pki *cmstest.PKI, pdf []byte) []pdftest.Result {
	t.Helper()
	return pdftest.Pdfsig(t, pki.RootPEM, pdf)
}
