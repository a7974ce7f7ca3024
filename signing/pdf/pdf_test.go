package pdf

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"eidp/internal/testenv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeCMS is a DER SEQUENCE ending in a zero byte, so that trimming the
// /Contents padding must follow the DER length, not strip zeros.
var fakeCMS = []byte{0x30, 0x06, 0x02, 0x01, 0x07, 0x02, 0x01, 0x00}

// prepareAndWrite signs with fakeCMS (no cryptography: structure tests).
func prepareAndWrite(t *testing.T, doc []byte, opts SignOptions) ([]byte, *Prepared) {
	t.Helper()
	p, err := open(t, doc).Prepare(opts)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var out bytes.Buffer
	if _, err := p.WriteTo(&out, fakeCMS); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return out.Bytes(), p
}

func TestSignaturesRoundTrip(t *testing.T) {
	when := time.Date(2026, 5, 17, 8, 30, 5, 0, time.FixedZone("", -(3*3600+30*60)))
	docs := map[string][]byte{
		"classic": handDocument{objs: baseObjects()}.bytes(t),
		"stream":  handDocument{objs: baseObjects(), inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(t),
		"hybrid":  hybridDocument(t),
	}
	for kind, doc := range docs {
		t.Run(kind, func(t *testing.T) {
			signed, p := prepareAndWrite(t, doc, SignOptions{
				FieldName: "Approval", Name: "Zoë Ñúñez (résident)", Reason: "Reason with ) and \\", Location: "Hall\nB",
				SigningTime: when, ContentsSize: 1024,
			})
			sigs, err := open(t, signed).Signatures()
			if err != nil {
				t.Fatal(err)
			}
			want := Signature{
				FieldName: "Approval", SubFilter: "ETSI.CAdES.detached", ByteRange: p.ByteRange(), Contents: fakeCMS,
				Name: "Zoë Ñúñez (résident)", Reason: "Reason with ) and \\", Location: "Hall\nB",
				CoversWholeDocument: true, RevisionEnd: int64(len(signed)),
			}
			if len(sigs) != 1 {
				t.Fatalf("%d signatures", len(sigs))
			}
			got := sigs[0]
			if !got.SigningTime.Equal(when) {
				t.Errorf("SigningTime %v, want %v", got.SigningTime, when)
			}
			got.SigningTime, got.rawContents = time.Time{}, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Signatures()[0] =\n%+v\nwant\n%+v", got, want)
			}
			br := p.ByteRange()
			if br[0] != 0 || br[2]+br[3] != int64(len(signed)) || signed[br[1]] != '<' || signed[br[2]-1] != '>' {
				t.Errorf("ByteRange %v does not frame /Contents in a %d-byte file", br, len(signed))
			}
			// The digest Prepare gave is the digest of the ByteRange of the
			// written file.
			pd, _ := p.Digest(crypto.SHA256)
			sd, err := sigs[0].Digest(bytes.NewReader(signed), crypto.SHA256)
			if err != nil || !bytes.Equal(pd, sd) {
				t.Errorf("Prepared.Digest %x, Signature.Digest %x (%v)", pd, sd, err)
			}
			wantKey := sha256.Sum256(nil)
			_ = wantKey
			if k := sigs[0].VRIKey(); len(k) != 40 || strings.ToUpper(k) != k {
				t.Errorf("VRIKey %q", k)
			}
			// The update keeps the kind of cross-reference section.
			update := string(signed[len(doc):])
			if isStream := strings.Contains(update, "/Type /XRef"); isStream != (kind == "stream") || strings.Contains(update, "trailer") == (kind == "stream") {
				t.Errorf("%s input got an update with the wrong xref kind:\n%s", kind, tail(update))
			}
			qpdfCheck(t, signed)
		})
	}
}

func tail(s string) string {
	if len(s) > 600 {
		return s[len(s)-600:]
	}
	return s
}

// qpdfCheck has qpdf, an independent parser, check the structure.
func qpdfCheck(t *testing.T, pdf []byte) {
	t.Helper()
	qpdf := testenv.Tool(t, "qpdf", "qpdf")
	file := filepath.Join(t.TempDir(), "f.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(qpdf, "--check", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No syntax or stream encoding errors") || strings.Contains(string(out), "WARNING") {
		t.Errorf("qpdf --check: %v\n%s", err, out)
	}
}

func TestPrepareKeepsExistingFormAndAnnotations(t *testing.T) {
	objs := baseObjects()
	objs[1] = "<< /Type /Catalog /Pages 2 0 R /AcroForm 6 0 R >>"
	objs[3] = strings.Replace(objs[3], "/Annots []", "/Annots 8 0 R", 1)
	objs[6] = "<< /Fields [7 0 R] /DA (/Helv 0 Tf 0 g) >>"
	objs[7] = "<< /FT /Tx /T (Signature1) /Type /Annot /Subtype /Widget /Rect [0 0 10 10] /P 3 0 R >>"
	objs[8] = "[7 0 R]"
	doc := handDocument{objs: objs}.bytes(t)
	signed, p := prepareAndWrite(t, doc, SignOptions{})
	if p.FieldName() != "Signature2" {
		t.Errorf("default field name %q, want Signature2 (Signature1 is taken)", p.FieldName())
	}
	d := open(t, signed)
	_, cat, _ := d.catalog()
	afRef, af, err := d.acroForm(cat)
	if err != nil || afRef.num != 6 {
		t.Fatalf("AcroForm %v %v", afRef, err)
	}
	if af["DA"] == nil || af["SigFlags"] != int64(3) {
		t.Errorf("AcroForm %v lost /DA or lacks /SigFlags 3", af)
	}
	fields, _ := d.resolveArray(af["Fields"])
	_, page, _ := d.page(1)
	annots, _ := d.resolveArray(page["Annots"])
	if len(fields) != 2 || fields[0] != (ref{num: 7}) || len(annots) != 2 || annots[0] != (ref{num: 7}) || annots[1] != fields[1] {
		t.Errorf("fields %v annots %v: the existing field and widget must stay, ours added", fields, annots)
	}
	if _, err := open(t, signed).Prepare(SignOptions{FieldName: "Signature1"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("Prepare with a taken field name: %v, want ErrInvalidOptions", err)
	}
	qpdfCheck(t, signed)
}

func TestPrepareRefusesBadOptions(t *testing.T) {
	d := open(t, handDocument{objs: baseObjects()}.bytes(t))
	for name, opts := range map[string]SignOptions{
		"a page that does not exist":       {Visible: &Appearance{Page: 2, Rect: [4]float64{0, 0, 10, 10}}},
		"page zero":                        {Visible: &Appearance{Page: 0, Rect: [4]float64{0, 0, 10, 10}}},
		"an empty visible rectangle":       {Visible: &Appearance{Page: 1, Rect: [4]float64{10, 10, 10, 50}}},
		"a field name with a period":       {FieldName: "a.b"},
		"a tiny Contents reservation":      {ContentsSize: 10},
		"an enormous Contents reservation": {ContentsSize: 1 << 30},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := d.Prepare(opts); !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("Prepare: %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestWriteToRefusesOversizedCMS(t *testing.T) {
	doc := handDocument{objs: baseObjects()}.bytes(t)
	p, err := open(t, doc).Prepare(SignOptions{ContentsSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := p.WriteTo(&out, make([]byte, 1001)); !errors.Is(err, ErrContentsTooLarge) || out.Len() != 0 {
		t.Errorf("WriteTo 1001 bytes into 1000: %v, wrote %d bytes; want ErrContentsTooLarge and nothing written", err, out.Len())
	}
	if _, err := p.WriteTo(&out, make([]byte, 1000)); err != nil {
		t.Errorf("WriteTo exactly 1000 bytes: %v", err)
	}
}

func TestOpenRefusesBadInput(t *testing.T) {
	good := handDocument{objs: baseObjects()}.bytes(t)
	start := int64(bytes.LastIndex(good, []byte("xref\n0 ")))
	deep := baseObjects()
	deep[1] = "<< /Type /Catalog /Pages 2 0 R /Deep " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + " >>"
	pageLoop := baseObjects()
	pageLoop[2] = "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"
	fieldLoop := baseObjects()
	fieldLoop[1] = "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [6 0 R] >> >>"
	fieldLoop[6] = "<< /T (loop) /Kids [6 0 R] >>"
	hugeLen := baseObjects()
	hugeLen[4] = "<< /Length 999999999999 >>\nstream\nx\nendstream"
	cases := []struct {
		name string
		doc  []byte
		lim  Limits
		want error
		// stage is where the error must show: "open", "signatures" or "prepare".
		stage string
	}{
		{"an /Encrypt entry in the trailer", handDocument{objs: baseObjects(), trailer: " /Encrypt << /Filter /Standard >>"}.bytes(t), Limits{}, ErrEncrypted, "open"},
		{"an /Encrypt entry in an xref stream", handDocument{objs: baseObjects(), xrefStream: true, trailer: " /Encrypt 9 0 R"}.bytes(t), Limits{}, ErrEncrypted, "open"},
		{"a truncated file", good[:len(good)/2], Limits{}, ErrMalformed, "open"},
		{"a file cut in its xref table", good[:start+40], Limits{}, ErrMalformed, "open"},
		{"garbage", bytes.Repeat([]byte("garbage\n"), 100), Limits{}, ErrMalformed, "open"},
		{"garbage after a header", append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0xFF}, 500)...), Limits{}, ErrMalformed, "open"},
		{"an empty file", nil, Limits{}, ErrMalformed, "open"},
		{"a file over MaxSize", good, Limits{MaxSize: int64(len(good) - 1)}, ErrTooLarge, "open"},
		{"more objects than MaxObjects", good, Limits{MaxObjects: 3}, ErrTooLarge, "open"},
		{"a /Prev pointing at its own section", handDocument{objs: baseObjects(), prev: start}.bytes(t), Limits{}, ErrMalformed, "open"},
		{"a /Prev beyond the file", handDocument{objs: baseObjects(), prev: 1 << 40}.bytes(t), Limits{}, ErrMalformed, "open"},
		{"a startxref pointing nowhere", bytes.Replace(good, fmt.Appendf(nil, "startxref\n%d", start), fmt.Appendf(nil, "startxref\n%d", start-7), 1), Limits{}, ErrMalformed, "open"},
		{"arrays nested 100 deep", handDocument{objs: deep}.bytes(t), Limits{}, ErrMalformed, "signatures"},
		{"a pages tree that contains itself", handDocument{objs: pageLoop}.bytes(t), Limits{}, ErrMalformed, "prepare"},
		{"a form field that is its own kid", handDocument{objs: fieldLoop}.bytes(t), Limits{}, ErrMalformed, "signatures"},
		// Open stays lazy: a bad stream it does not need is no error.
		{"a bad /Length in a stream Open does not read", handDocument{objs: hugeLen, inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(t), Limits{}, nil, "open"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Open(bytes.NewReader(c.doc), int64(len(c.doc)), c.lim)
			if c.stage == "open" {
				if c.want == nil {
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					return
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("Open: %v, want %v", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			_, errS := d.Signatures()
			_, errP := d.Prepare(SignOptions{})
			got := errS
			if c.stage == "prepare" {
				got = errP
			}
			if !errors.Is(got, c.want) {
				t.Errorf("%s: %v, want %v", c.stage, got, c.want)
			}
		})
	}
}

// TestHugeStreamLengthIsRefusedWhenRead: a bad /Length only matters for
// streams this package reads (an object stream here).
func TestHugeStreamLengthIsRefusedWhenRead(t *testing.T) {
	objs := baseObjects()
	doc := handDocument{objs: objs, inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(t)
	bad := bytes.Replace(doc, []byte("/Type /ObjStm /N 4 /First"), []byte("/Type /ObjStm /N 9 /First"), 1)
	d := open(t, bad)
	if _, err := d.PageCount(); !errors.Is(err, ErrMalformed) {
		t.Errorf("object stream with a wrong /N: %v, want ErrMalformed", err)
	}
	for _, length := range []string{"999999999999", "-5", "99 0 R", "(text)"} {
		bad = handDocument{objs: objs, inObjStm: []int{1, 2, 3, 5}, xrefStream: true, stmLength: length}.bytes(t)
		if _, err := open(t, bad).PageCount(); !errors.Is(err, ErrMalformed) {
			t.Errorf("object stream with /Length %s: %v, want ErrMalformed", length, err)
		}
	}
}

func TestAppendDSSExtendsTheExistingStore(t *testing.T) {
	doc, _ := prepareAndWrite(t, handDocument{objs: baseObjects(), inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(t), SignOptions{ContentsSize: 512})
	sig := mustSignatures(t, doc)[0]
	var first bytes.Buffer
	if _, err := open(t, doc).AppendDSS(&first, DSS{Certs: [][]byte{[]byte("cert A")}, OCSPs: [][]byte{[]byte("ocsp A")}}); err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if _, err := open(t, first.Bytes()).AppendDSS(&second, DSS{
		Certs: [][]byte{[]byte("cert A"), []byte("cert B")},
		CRLs:  [][]byte{[]byte("crl A")},
		VRI:   map[string]VRIEntry{sig.VRIKey(): {OCSPs: [][]byte{[]byte("ocsp A")}, CRLs: [][]byte{[]byte("crl B")}}},
	}); err != nil {
		t.Fatal(err)
	}
	out := second.Bytes()
	if !bytes.HasPrefix(out, first.Bytes()) || !bytes.HasPrefix(out, doc) {
		t.Fatal("a DSS update changed earlier bytes")
	}
	for key, want := range map[name][]string{"Certs": {"cert A", "cert B"}, "OCSPs": {"ocsp A"}, "CRLs": {"crl A", "crl B"}} {
		var got []string
		for _, b := range dssItems(t, out, key) {
			got = append(got, string(b))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DSS /%s = %q, want %q", key, got, want)
		}
	}
	d := open(t, out)
	_, cat, _ := d.catalog()
	dss, _ := d.resolveDict(cat["DSS"])
	vri, err := d.resolveDict(dss["VRI"])
	if err != nil {
		t.Fatal(err)
	}
	entry, ok := vri[name(sig.VRIKey())].(dict)
	if !ok || len(entry["OCSP"].(array)) != 1 || len(entry["CRL"].(array)) != 1 {
		t.Errorf("VRI entry %v", vri)
	}
	if sigs := mustSignatures(t, out); len(sigs) != 1 || !bytes.Equal(sigs[0].Contents, fakeCMS) {
		t.Errorf("signature lost after DSS updates: %+v", sigs)
	}
	qpdfCheck(t, out)

	for name, dss := range map[string]DSS{
		"an empty DSS":      {},
		"a lower-case key":  {VRI: map[string]VRIEntry{strings.ToLower(sig.VRIKey()): {Certs: [][]byte{{1}}}}},
		"a short key":       {VRI: map[string]VRIEntry{"ABC": {Certs: [][]byte{{1}}}}},
		"an empty DER item": {Certs: [][]byte{{}}},
	} {
		var w bytes.Buffer
		if _, err := open(t, out).AppendDSS(&w, dss); !errors.Is(err, ErrInvalidOptions) || w.Len() != 0 {
			t.Errorf("AppendDSS with %s: %v (wrote %d bytes), want ErrInvalidOptions and nothing written", name, err, w.Len())
		}
	}
}

func TestParserReadsPDFSyntax(t *testing.T) {
	src := `<< /Str (a\(b\)c\\d\n\101\0537 (nested) line\
continued) /Hex <48 65 6c6C 6> /N#20ame /Name#2Fslash /Ref 12 3 R /Arr [1 -2 +3 .5 -0.25 true false null /X]
/D << /Deep [[ ]] >> >>`
	o, err := newParser(strings.NewReader(src), 0).object(0)
	if err != nil {
		t.Fatal(err)
	}
	want := dict{
		"Str":   pdfString{b: []byte("a(b)c\\d\nA+7 (nested) linecontinued")},
		"Hex":   pdfString{b: []byte("Hell`"), hex: true},
		"N ame": name("Name/slash"),
		"Ref":   ref{num: 12, gen: 3},
		"Arr":   array{int64(1), int64(-2), int64(3), 0.5, -0.25, true, false, nil, name("X")},
		"D":     dict{"Deep": array{array{}}},
	}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("parsed\n%#v\nwant\n%#v", o, want)
	}
	// What writeObject writes parses back to the same object.
	var b bytes.Buffer
	writeObject(&b, o)
	back, err := newParser(bytes.NewReader(b.Bytes()), 0).object(0)
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip of %s: %#v, %v", b.Bytes(), back, err)
	}
}

func TestUnpredictUndoesEveryPNGFilter(t *testing.T) {
	const cols, bpp = 6, 2
	rows := [][]byte{{1, 2, 3, 250, 251, 252}, {9, 8, 7, 6, 5, 4}, {0, 255, 0, 255, 128, 127}, {3, 3, 3, 3, 3, 3}, {200, 100, 50, 25, 12, 6}}
	var enc []byte
	prev := make([]byte, cols)
	for i, row := range rows {
		ft := byte(i % 5)
		enc = append(enc, ft)
		for j := range row {
			var left, upLeft byte
			if j >= bpp {
				left, upLeft = row[j-bpp], prev[j-bpp]
			}
			up := prev[j]
			var p byte
			switch ft {
			case 1:
				p = left
			case 2:
				p = up
			case 3:
				p = byte((int(left) + int(up)) / 2)
			case 4:
				p = paeth(left, up, upLeft)
			}
			enc = append(enc, row[j]-p)
		}
		prev = row
	}
	got, err := unpredict(enc, dict{"Predictor": int64(15), "Colors": int64(bpp), "Columns": int64(cols / bpp)})
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Join(rows, nil); !bytes.Equal(got, want) {
		t.Errorf("unpredict = %v, want %v", got, want)
	}
	if _, err := unpredict(enc[:len(enc)-1], dict{"Predictor": int64(12), "Columns": int64(cols)}); !errors.Is(err, ErrMalformed) {
		t.Errorf("a partial row: %v, want ErrMalformed", err)
	}
}

func TestAppearanceText(t *testing.T) {
	if n := len([]rune(winAnsiHigh)); n != 32 {
		t.Fatalf("winAnsiHigh has %d characters, want 32", n)
	}
	if got, want := winAnsi("€ü中–\t(x)"), []byte{0x80, 0xFC, '?', 0x96, ' ', '(', 'x', ')'}; !bytes.Equal(got, want) {
		t.Errorf("winAnsi = %v, want %v", got, want)
	}
	c := string(appearanceContent(200, 40, []string{"Signed (by) A\\B", "Reason: ok"}))
	if !strings.Contains(c, `(Signed \(by\) A\\B) Tj`) || !strings.Contains(c, "/F1 ") {
		t.Errorf("appearance content does not escape text:\n%s", c)
	}
	// A long line in a narrow box gets a smaller font than a short one.
	small := string(appearanceContent(60, 40, []string{strings.Repeat("W", 40)}))
	if !strings.Contains(c, "/F1 10 Tf") || strings.Contains(small, "/F1 10 Tf") {
		t.Errorf("font size does not fit the box:\n%s\n%s", c, small)
	}
}

func TestDateRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("", 5*3600+45*60)),
		time.Date(1999, 6, 7, 8, 9, 10, 0, time.FixedZone("", -8*3600)),
	} {
		got, ok := parseDate(formatDate(tm))
		if !ok || !got.Equal(tm) {
			t.Errorf("parseDate(formatDate(%v)) = %v, %v", tm, got, ok)
		}
	}
	if got, ok := parseDate("D:20260102030405Z"); !ok || !got.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("Z date: %v %v", got, ok)
	}
	if _, ok := parseDate("D:2026xx"); ok {
		t.Error("a bad date parsed")
	}
}
