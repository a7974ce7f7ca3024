package pdf

import (
	"bytes"
	"crypto"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"eidp/internal/testenv"
	"eidp/signing/cms"
	"eidp/signing/cms/cmstest"
)

// inputs are the document kinds every end-to-end test runs on.
func inputs(t *testing.T) map[string][]byte {
	t.Helper()
	classic := fpdfDocument(t, 3, 0)
	return map[string][]byte{
		"classic xref table (fpdf)":            classic,
		"xref and object streams (qpdf)":       qpdfObjectStreams(t, classic),
		"hand-made xref stream with predictor": handDocument{objs: baseObjects(), inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(t),
		"hand-made classic table":              handDocument{objs: baseObjects()}.bytes(t),
		"hand-made hybrid file":                hybridDocument(t),
	}
}

func TestPdfsigAcceptsOneSignature(t *testing.T) {
	pki := cmstest.NewPKI(t)
	alice := newSigner(t, pki, "Alice Resident")
	for kind, doc := range inputs(t) {
		for _, visible := range []bool{false, true} {
			name := kind + " invisible"
			opts := SignOptions{Name: "Alice Resident", Reason: "I agree (fully) \\ ok", Location: "City Hall", SigningTime: testTime}
			if visible {
				name = kind + " visible"
				opts.Visible = &Appearance{Page: 1, Rect: [4]float64{50, 50, 300, 110}}
			}
			t.Run(name, func(t *testing.T) {
				signed := alice.sign(t, doc, opts)
				res := pdfsig(t, pki, signed)
				if len(res) != 1 {
					t.Fatalf("pdfsig found %d signatures, want 1", len(res))
				}
				res[0].WantValid(t, true)

				sigs, err := open(t, signed).Signatures()
				if err != nil {
					t.Fatal(err)
				}
				if len(sigs) != 1 || sigs[0].FieldName != "Signature1" || !sigs[0].CoversWholeDocument {
					t.Fatalf("Signatures() = %+v", sigs)
				}
				checkCMS(t, signed, sigs[0])
			})
		}
	}
}

// checkCMS verifies the CMS found in the document against the ByteRange
// digest with signing/cms.
func checkCMS(t *testing.T, signed []byte, s Signature) {
	t.Helper()
	digest, err := s.Digest(bytes.NewReader(signed), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(s.Contents)
	if err != nil {
		t.Fatalf("cms.Parse of /Contents: %v", err)
	}
	if err := sd.Verify(digest); err != nil {
		t.Fatalf("CMS does not verify over the ByteRange: %v", err)
	}
}

func TestPdfsigTwoSignersThenDSS(t *testing.T) {
	pki := cmstest.NewPKI(t)
	alice, bob := newSigner(t, pki, "Alice Resident"), newSigner(t, pki, "Bob Resident")
	for kind, doc := range inputs(t) {
		t.Run(kind, func(t *testing.T) {
			once := alice.sign(t, doc, SignOptions{Name: "Alice", SigningTime: testTime})
			twice := bob.sign(t, once, SignOptions{Name: "Bob", SigningTime: testTime,
				Visible: &Appearance{Page: 1, Rect: [4]float64{300, 50, 550, 100}, Lines: []string{"Bob Resident", "Zürich – “quoted” € (x)"}}})
			if !bytes.HasPrefix(twice, once) {
				t.Fatal("the second signature changed the first revision")
			}
			res := pdfsig(t, pki, twice)
			if len(res) != 2 {
				t.Fatalf("pdfsig found %d signatures, want 2", len(res))
			}
			res[0].WantValid(t, false)
			res[1].WantValid(t, true)

			sigs, err := open(t, twice).Signatures()
			if err != nil {
				t.Fatal(err)
			}
			if len(sigs) != 2 || sigs[0].Name != "Alice" || sigs[1].Name != "Bob" || sigs[1].FieldName != "Signature2" ||
				sigs[0].CoversWholeDocument || !sigs[1].CoversWholeDocument || sigs[0].RevisionEnd != int64(len(once)) {
				t.Fatalf("Signatures() = %+v", sigs)
			}

			d := open(t, twice)
			var withDSS bytes.Buffer
			if _, err := d.AppendDSS(&withDSS, DSS{
				Certs: [][]byte{pki.Root.Raw, pki.Intermediate.Raw, alice.cert.Raw},
				VRI:   map[string]VRIEntry{sigs[1].VRIKey(): {Certs: [][]byte{bob.cert.Raw, pki.Intermediate.Raw}, TU: testTime}},
			}); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(withDSS.Bytes(), twice) {
				t.Fatal("the DSS update changed earlier revisions")
			}
			res = pdfsig(t, pki, withDSS.Bytes())
			if len(res) != 2 {
				t.Fatalf("pdfsig found %d signatures after the DSS, want 2", len(res))
			}
			res[0].WantValid(t, false)
			res[1].WantValid(t, false)
			for i, s := range mustSignatures(t, withDSS.Bytes()) {
				checkCMS(t, withDSS.Bytes(), s)
				if s.CoversWholeDocument {
					t.Errorf("signature %d covers the whole document after the DSS update", i)
				}
			}
			certs := dssItems(t, withDSS.Bytes(), "Certs")
			if len(certs) != 4 {
				t.Errorf("DSS /Certs has %d items, want 4 (root, intermediate, alice, bob; no duplicates)", len(certs))
			}
			if !strings.Contains(string(withDSS.Bytes()[len(twice):]), "/VRI") {
				t.Error("no /VRI written")
			}
		})
	}
}

func mustSignatures(t *testing.T, b []byte) []Signature {
	t.Helper()
	sigs, err := open(t, b).Signatures()
	if err != nil {
		t.Fatal(err)
	}
	return sigs
}

// dssItems reads back the decoded streams of one DSS array.
func dssItems(t *testing.T, b []byte, key name) [][]byte {
	t.Helper()
	d := open(t, b)
	_, cat, err := d.catalog()
	if err != nil {
		t.Fatal(err)
	}
	dss, err := d.resolveDict(cat["DSS"])
	if err != nil {
		t.Fatalf("catalog /DSS: %v", err)
	}
	items, err := d.resolveArray(dss[key])
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, it := range items {
		o, err := d.resolve(it)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := o.(*stream)
		if !ok {
			t.Fatalf("DSS item %v is %T", it, o)
		}
		data, err := d.streamData(s, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// TestVisibleSignatureIsDrawn renders the page with pdftoppm and looks for
// ink inside the widget rectangle, which the unsigned page does not have.
func TestVisibleSignatureIsDrawn(t *testing.T) {
	doc := handDocument{objs: baseObjects()}.bytes(t) // 612 x 792 points
	rect := [4]float64{300, 50, 550, 110}
	signed, _ := prepareAndWrite(t, doc, SignOptions{Name: "Alice Resident", Reason: "Approval", SigningTime: testTime,
		Visible: &Appearance{Page: 1, Rect: rect}})
	ink := func(pdf []byte) int {
		img := render(t, pdf)
		h := img.Bounds().Dy()
		dark := 0
		for x := int(rect[0]) + 3; x < int(rect[2])-3; x++ {
			for y := h - int(rect[3]) + 3; y < h-int(rect[1])-3; y++ {
				if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
					dark++
				}
			}
		}
		return dark
	}
	if before, after := ink(doc), ink(signed); before != 0 || after < 200 {
		t.Errorf("dark pixels in the signature box: %d before signing, %d after; want 0 and some text", before, after)
	}
}

func render(t *testing.T, pdf []byte) image.Image {
	t.Helper()
	bin := testenv.Tool(t, "pdftoppm", "poppler-utils")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-r", "72", "-f", "1", "-l", "1", "-singlefile", "-png", in, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
