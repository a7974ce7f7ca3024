// Package pdftest makes PDFs for tests and benchmarks with a PDF library
// that is not ours (github.com/go-pdf/fpdf): pages of text, then pages of
// incompressible images to reach a size, like a scanned document. The same
// options always give the same bytes.
package pdftest
