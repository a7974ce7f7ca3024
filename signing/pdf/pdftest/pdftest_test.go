package pdftest_test

import (
	"bytes"
	"testing"

	"eidp/signing/pdf"
	"eidp/signing/pdf/pdftest"
)

func TestDocument(t *testing.T) {
	for _, o := range []pdftest.Options{{Title: "one page"}, {Title: "three", Pages: 3}, {Title: "images", ImageBytes: 300 << 10, ChunkBytes: 100 << 10},
		// A last, smaller image whose width would meet an earlier one's.
		{Title: "uneven", ImageBytes: 1<<20 - 2500, ChunkBytes: 512 << 10}} {
		a, err := pdftest.Document(o)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 { // map order varies from run to run
			if b, _ := pdftest.Document(o); !bytes.Equal(a, b) {
				t.Fatalf("%+v: two runs differ", o)
			}
		}
		if d := len(a) - o.ImageBytes; d < 1000 || d > 8<<10 {
			t.Errorf("%+v: %d bytes", o, len(a))
		}
		doc, err := pdf.Open(bytes.NewReader(a), int64(len(a)), pdf.Limits{})
		if err != nil {
			t.Fatalf("%+v: signing/pdf cannot open it: %v", o, err)
		}
		chunk := o.ChunkBytes
		if chunk == 0 {
			chunk = 1 << 20
		}
		want := max(o.Pages, 1) + (o.ImageBytes+chunk-1)/chunk
		if n, err := doc.PageCount(); err != nil || n != want {
			t.Errorf("%+v: %d pages, want %d (%v)", o, n, want, err)
		}
	}
}
