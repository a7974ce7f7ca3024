package pdftest

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"time"

	"github.com/go-pdf/fpdf"
)

// Options describe a document.
type Options struct {
	Title      string // the first line of each text page ("Page N" is added when there are several)
	Pages      int    // text pages; at least 1
	ImageBytes int    // about this many bytes of images after the text pages
	ChunkBytes int    // image bytes per image page (default 1 MiB)
	Seed       uint64 // the images' pixels
}

// fixed is the documents' creation and modification date, so that the same
// options give the same bytes.
var fixed = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// PageOverhead is about what an image page adds beyond its pixels' PNG
// stream; a document of text pages alone is about 1.7 KB.
const PageOverhead = 400

// Document makes the PDF (classic cross-reference table, uncompressed
// object layout as fpdf writes it).
func Document(o Options) ([]byte, error) {
	if o.Pages < 1 {
		o.Pages = 1
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = 1 << 20
	}
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCreationDate(fixed)
	f.SetModificationDate(fixed)
	f.SetCatalogSort(true)
	f.SetCreator("eidp tests (signing/pdf/pdftest)", true)
	for i := range o.Pages {
		f.AddPage()
		f.SetFont("Helvetica", "", 14)
		line := o.Title
		if o.Pages > 1 {
			line = fmt.Sprintf("%s (page %d of %d)", o.Title, i+1, o.Pages)
		}
		f.Cell(40, 10, line)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	widths := map[int]bool{}
	for i, left := 0, o.ImageBytes; left > 0; i++ {
		n := min(left, o.ChunkBytes)
		left -= n
		// fpdf writes images in order of width, and those of one width in
		// map order: every image gets a width of its own to keep the bytes
		// repeatable.
		side := max(8, int(math.Sqrt(float64(n)/3)))
		for widths[side] {
			side++
		}
		widths[side] = true
		img := image.NewRGBA(image.Rect(0, 0, side, side))
		for p := 0; p < len(img.Pix); p += 4 {
			v := rng.Uint32()
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = byte(v), byte(v>>8), byte(v>>16), 255
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("img%d", i)
		f.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, &b)
		f.AddPage()
		f.ImageOptions(name, 10, 10, 150, 150, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	}
	var out bytes.Buffer
	if err := f.Output(&out); err != nil {
		return nil, fmt.Errorf("pdftest: %w", err)
	}
	return out.Bytes(), nil
}
