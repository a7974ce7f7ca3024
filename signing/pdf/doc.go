// Package pdf reads PDF documents and appends PAdES signatures and
// validation material to them as incremental updates, so that every
// earlier revision, and every earlier signature, stays byte for byte
// intact.
//
// Reading (ISO 32000-1 §7.5) takes an io.ReaderAt and a size: the file is
// never loaded whole. Only the trailer, the cross-reference sections
// (classic tables §7.5.4, xref streams §7.5.8 with PNG predictors, hybrid
// files §7.5.8.4, every revision through /Prev), the catalog, the pages
// tree down to the target page, the AcroForm and an existing DSS are read.
// Objects inside object streams (§7.5.7) are supported. Encrypted files
// are refused (ErrEncrypted); malformed ones give ErrMalformed with what
// was wrong; sizes, nesting, /Prev chains and tree walks are bounded
// (ErrTooLarge, Limits).
//
// Signing is in two steps so that the key never needs the document:
// Document.Prepare builds the update (ISO 32000-1 §7.5.6, §12.8) with a
// signature dictionary whose /Contents is reserved and whose /ByteRange is
// already final (SubFilter ETSI.CAdES.detached and the signing time in /M,
// ETSI EN 319 142-1 §5.3 PAdES baseline B-B); Prepared.Digest gives the
// digest to sign (for example with signing/cms, without a signing-time
// attribute); Prepared.WriteTo writes the document with the CMS in place.
// The new cross-reference section has the kind of the file's newest one.
//
// Document.AppendDSS adds or extends the Document Security Store
// (ETSI EN 319 142-1 §5.4, ISO 32000-2 §12.8.4.3) for PAdES B-LT:
// certificates, OCSP responses and CRLs as streams, and optional per
// signature /VRI entries.
//
// Only the standard library is used; test fixtures come from
// github.com/go-pdf/fpdf and qpdf, and results are checked with pdfsig.
package pdf
