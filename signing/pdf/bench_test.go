package pdf

import (
	"bytes"
	"crypto"
	"fmt"
	"io"
	"testing"
)

// BenchmarkSign measures Prepare+Digest+WriteTo (no CMS: signing/cms has
// its own benchmarks). Run with -benchmem: allocations must not grow with
// the document, which is streamed, never loaded.
func BenchmarkSign(b *testing.B) {
	for _, size := range []int{100 << 10, 1 << 20, 10 << 20} {
		doc := fpdfDocument(b, 2, size)
		b.Run(fmt.Sprintf("%dKB", len(doc)>>10), func(b *testing.B) {
			r := bytes.NewReader(doc)
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				d, err := Open(r, int64(len(doc)), Limits{})
				if err != nil {
					b.Fatal(err)
				}
				p, err := d.Prepare(SignOptions{Visible: &Appearance{Page: 1, Rect: [4]float64{50, 50, 250, 100}}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Digest(crypto.SHA256); err != nil {
					b.Fatal(err)
				}
				if _, err := p.WriteTo(io.Discard, fakeCMS); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
