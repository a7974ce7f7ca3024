package eidpflow

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"eidp/bench/loadgen"
	"eidp/signing/cms"
	"eidp/signing/pdf"
	"eidp/signing/pdf/pdftest"
)

// PDF sizes.
const (
	// DefaultPDFSize is the size of the document pades signs by default.
	DefaultPDFSize = 1 << 20
	// MaxPDFSize is the largest document signDoc takes (signing/csc's
	// default MaxDocument).
	MaxPDFSize = 32 << 20
)

// GeneratePDF makes a deterministic PDF of about size bytes (within a few
// kilobytes; at least about 2 KB): one page of text, then pages of
// incompressible images, like a scanned document. The same size always
// gives the same bytes.
func GeneratePDF(size int) ([]byte, error) {
	// The text page and the structure take about 1.7 KB; every image page
	// adds its PNG stream (deflate of random pixels: about its raw size)
	// and pdftest.PageOverhead.
	const chunk = 512 << 10
	images := 0
	if rest := size - 1700; rest > 1024 {
		pages := (rest + chunk + pdftest.PageOverhead - 1) / (chunk + pdftest.PageOverhead)
		images = rest - pages*pdftest.PageOverhead
	}
	doc, err := pdftest.Document(pdftest.Options{
		Title:      fmt.Sprintf("A %d-byte document for the pades scenario of eidp's load generator.", size),
		ImageBytes: images, ChunkBytes: chunk, Seed: uint64(size),
	})
	if err != nil {
		return nil, fmt.Errorf("eidpflow: generate a PDF: %w", err)
	}
	return doc, nil
}

// PAdES is the pades scenario: CSC signatures/signDoc making a PAdES
// B-T signature (ETSI EN 319 142-1: B-B with a signature time-stamp) of
// one PDF. Setup authorises and approves one SAD per iteration for the
// document's SHA-256, as sign-hash does; an iteration posts the document
// and checks the signed PDF it gets back.
type PAdES struct {
	*signer
	doc         []byte
	docB64      string
	signatures  int // in doc already
	maxResponse int64
}

// NewPAdES returns the pades scenario.
func NewPAdES(cfg SigningConfig) (loadgen.Scenario, error) {
	s, err := newSigner(cfg)
	if err != nil {
		return nil, err
	}
	doc := cfg.PDF
	if doc == nil {
		if doc, err = GeneratePDF(s.cfg.PDFSize); err != nil {
			return nil, err
		}
	}
	d, err := pdf.Open(bytes.NewReader(doc), int64(len(doc)), pdf.Limits{MaxSize: MaxPDFSize})
	if err != nil {
		return nil, fmt.Errorf("%w: the PDF to sign: %w", ErrConfig, err)
	}
	sigs, err := d.Signatures()
	if err != nil {
		return nil, fmt.Errorf("%w: the PDF to sign: %w", ErrConfig, err)
	}
	return &PAdES{signer: s, doc: doc, docB64: base64.StdEncoding.EncodeToString(doc), signatures: len(sigs),
		// base64 of the document, its signature, the chain and the
		// time-stamp token, with room to spare.
		maxResponse: int64(len(doc))*2 + 1<<20}, nil
}

// Name implements loadgen.Scenario.
func (s *PAdES) Name() string { return ScenarioPAdES }

// Setup implements loadgen.Scenario: every SAD approves the document's
// SHA-256 (what signDoc checks against the document it is sent).
func (s *PAdES) Setup(ctx context.Context, env *loadgen.Env) error {
	sum := sha256.Sum256(s.doc)
	return s.prepare(ctx, env, func(int) []byte { return sum[:] })
}

// request is signDoc's body (CSC §11.10), written by hand so that the
// document's base64 is copied, not encoded or escaped again.
func (s *PAdES) request(a activationData) []byte {
	id, _ := json.Marshal(a.cred.id)
	sad, _ := json.Marshal(a.sad)
	var b bytes.Buffer
	b.Grow(len(s.docB64) + 512)
	b.WriteString(`{"credentialID":`)
	b.Write(id)
	b.WriteString(`,"SAD":`)
	b.Write(sad)
	b.WriteString(`,"documents":[{"document":"`)
	b.WriteString(s.docB64) // base64 needs no JSON escaping
	b.WriteString(`","signature_format":"P","conformance_level":"Ades-B-T","signAlgo":"` + oidECDSAWithSHA256 + `"}]}`)
	return b.Bytes()
}

// Do implements loadgen.Scenario: one signDoc, and the signed PDF checked:
// the original bytes untouched (an incremental update, ISO 32000-1
// §7.5.6), one signature more, covering the whole file, SubFilter
// ETSI.CAdES.detached, whose CMS verifies over the ByteRange digest with
// the credential's certificate and carries a signature time-stamp (B-T).
func (s *PAdES) Do(ctx context.Context, w *loadgen.Worker) error {
	a, err := s.take()
	if err != nil {
		return err
	}
	resp, raw, err := postBearer(ctx, w.Client, s.base+cscBase+"signatures/signDoc", a.cred.token, s.request(a), s.maxResponse)
	loadgen.Responded(ctx)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusFailure(KindSignDoc, "signDoc", resp.StatusCode, http.StatusOK, raw)
	}
	var out struct {
		DocumentWithSignature []string `json:"DocumentWithSignature"`
	}
	if err := decodeJSON(resp, raw, &out); err != nil {
		return loadgen.Fail(KindSignDoc, "signDoc: %v", err)
	}
	if len(out.DocumentWithSignature) != 1 {
		return loadgen.Fail(KindSignDoc, "signDoc: %d signed documents for one document", len(out.DocumentWithSignature))
	}
	signed, err := base64.StdEncoding.DecodeString(out.DocumentWithSignature[0])
	if err != nil {
		return loadgen.Fail(KindSignDoc, "signDoc: the signed document is not base64")
	}
	if err := s.check(signed, a); err != nil {
		return err
	}
	s.signed.Add(1)
	return nil
}

// check verifies a signed PDF as Do describes.
func (s *PAdES) check(signed []byte, a activationData) error {
	if len(signed) <= len(s.doc) || !bytes.Equal(signed[:len(s.doc)], s.doc) {
		return loadgen.Fail(KindSignature, "the signed PDF is not the document followed by an incremental update")
	}
	r := bytes.NewReader(signed)
	d, err := pdf.Open(r, int64(len(signed)), pdf.Limits{MaxSize: s.maxResponse})
	if err != nil {
		return loadgen.Fail(KindSignature, "the signed PDF does not open: %v", err)
	}
	sigs, err := d.Signatures()
	if err != nil {
		return loadgen.Fail(KindSignature, "the signed PDF's signatures: %v", err)
	}
	if len(sigs) != s.signatures+1 {
		return loadgen.Fail(KindSignature, "the signed PDF has %d signatures, want %d", len(sigs), s.signatures+1)
	}
	sig := sigs[len(sigs)-1]
	if sig.SubFilter != "ETSI.CAdES.detached" || !sig.CoversWholeDocument {
		return loadgen.Fail(KindSignature, "the new signature has SubFilter %q and covers the whole file: %t", truncate(sig.SubFilter), sig.CoversWholeDocument)
	}
	sd, err := cms.Parse(sig.Contents)
	if err != nil {
		return loadgen.Fail(KindSignature, "the signature's CMS does not parse: %v", err)
	}
	digest, err := sig.Digest(r, crypto.SHA256)
	if err != nil {
		return loadgen.Fail(KindSignature, "the signature's ByteRange: %v", err)
	}
	if err := sd.Verify(digest); err != nil {
		return loadgen.Fail(KindSignature, "the signature's CMS does not verify over the ByteRange: %v", err)
	}
	if len(sd.Signers) != 1 || sd.Signers[0].Certificate == nil || !sd.Signers[0].Certificate.Equal(a.cred.cert) {
		return loadgen.Fail(KindSignature, "the signature is not made with the credential's certificate")
	}
	if sd.Signers[0].Timestamp == nil {
		return loadgen.Fail(KindSignature, "the signature has no signature time-stamp (Ades-B-T asked)")
	}
	return nil
}

// Notes implements loadgen.Noter.
func (s *PAdES) Notes() []string {
	return s.notes(fmt.Sprintf("PAdES B-T signatures of a %d-byte PDF", len(s.doc)))
}
