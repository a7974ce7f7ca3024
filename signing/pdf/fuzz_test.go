package pdf

import (
	"bytes"
	"crypto"
	"testing"
	"time"
)

// FuzzOpen feeds arbitrary bytes to Open, Signatures and Prepare. Nothing
// may panic or hang; when the input is accepted and signed, the output must
// read back with one more signature.
func FuzzOpen(f *testing.F) {
	f.Add(handDocument{objs: baseObjects()}.bytes(f))
	f.Add(handDocument{objs: baseObjects(), inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(f))
	f.Add(hybridDocument(f))
	classic := fpdfDocument(f, 2, 0)
	f.Add(classic)
	f.Add(qpdfObjectStreams(f, classic))
	p, err := open(f, classic).Prepare(SignOptions{ContentsSize: 256, Name: "Seed"})
	if err != nil {
		f.Fatal(err)
	}
	var signed bytes.Buffer
	if _, err := p.WriteTo(&signed, fakeCMS); err != nil {
		f.Fatal(err)
	}
	f.Add(signed.Bytes())

	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Open(bytes.NewReader(b), int64(len(b)), Limits{MaxSize: 1 << 20, MaxObjects: 10000})
		if err != nil {
			return
		}
		_, _ = d.PageCount()
		before, errSigs := d.Signatures()
		for _, s := range before {
			_, _ = s.Digest(bytes.NewReader(b), crypto.SHA256)
		}
		p, err := d.Prepare(SignOptions{ContentsSize: 256, SigningTime: time.Unix(1e9, 0),
			Visible: &Appearance{Page: 1, Rect: [4]float64{0, 0, 100, 50}}})
		if err != nil {
			return
		}
		if _, err := p.Digest(crypto.SHA256); err != nil {
			t.Fatalf("Digest after Prepare: %v", err)
		}
		var out bytes.Buffer
		if _, err := p.WriteTo(&out, fakeCMS); err != nil {
			t.Fatalf("WriteTo after Prepare: %v", err)
		}
		d2, err := Open(bytes.NewReader(out.Bytes()), int64(out.Len()), Limits{MaxSize: 2 << 20, MaxObjects: 20000})
		if err != nil {
			t.Fatalf("the signed output does not open: %v", err)
		}
		after, err := d2.Signatures()
		if errSigs == nil && (err != nil || len(after) != len(before)+1) {
			t.Fatalf("signatures before %d, after %d (%v)", len(before), len(after), err)
		}
	})
}
