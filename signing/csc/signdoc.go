package csc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"eidp/idp/provider"
	"eidp/signing/activation"
	"eidp/signing/ca"
	"eidp/signing/formats"
	"eidp/signing/pdf"
)

type signDocDocument struct {
	Document               string `json:"document"`
	SignatureFormat        string `json:"signature_format"`
	ConformanceLevel       string `json:"conformance_level"`
	SignAlgo               string `json:"signAlgo"`
	SignedEnvelopeProperty string `json:"signed_envelope_property"`
	// Extension: a visible PAdES signature on this page and rectangle
	// (PDF user space), showing the signer, the time and the reason.
	Appearance *struct {
		Page int        `json:"page"`
		Rect [4]float64 `json:"rect"`
	} `json:"appearance,omitempty"`
}

type signDocDigests struct {
	Hashes           []string `json:"hashes"`
	HashAlgorithmOID string   `json:"hashAlgorithmOID"`
	SignatureFormat  string   `json:"signature_format"`
	ConformanceLevel string   `json:"conformance_level"`
	SignAlgo         string   `json:"signAlgo"`
}

type signDocRequest struct {
	CredentialID         string            `json:"credentialID"`
	SAD                  string            `json:"SAD"`
	Documents            []signDocDocument `json:"documents"`
	DocumentDigests      []signDocDigests  `json:"documentDigests"`
	OperationMode        string            `json:"operationMode"`
	ReturnValidationInfo bool              `json:"returnValidationInfo"`
	ClientData           string            `json:"clientData"`
}

// job is one signature signDoc makes.
type job struct {
	format  string // C, P, J
	level   formats.Level
	content []byte // the document (nil for a digest)
	digest  []byte
	detach  bool
	appear  *pdf.Appearance
	digests bool // from documentDigests: SignatureObject
}

// signDoc: CSC §11.10. Every document's digest (with the approved hash
// algorithm) and every listed digest must have been approved.
func (s *Service) signDoc(w http.ResponseWriter, r *http.Request, at provider.AccessToken) error {
	ctx := r.Context()
	var req signDocRequest
	// base64 grows documents by 4/3.
	if err := decode(w, r, s.opts.MaxDocument*4/3+64<<10, &req); err != nil {
		return err
	}
	if req.OperationMode != "" && req.OperationMode != "S" {
		return badRequest("only synchronous operationMode S is supported")
	}
	if len(req.Documents)+len(req.DocumentDigests) == 0 {
		return badRequest("documents or documentDigests is required")
	}
	if len(req.Documents)+len(req.DocumentDigests) > activation.MaxDocuments {
		return badRequest("at most %d documents", activation.MaxDocuments)
	}
	// The hash algorithm is the approved one: the request tells it.
	hash, err := s.approvedHash(ctx, at, req)
	if err != nil {
		return err
	}
	var jobs []job
	for i, d := range req.Documents {
		j, err := documentJob(i, d, hash, s.opts.MaxDocument)
		if err != nil {
			return err
		}
		jobs = append(jobs, j)
	}
	for i, d := range req.DocumentDigests {
		if d.HashAlgorithmOID != activation.HashOID(hash) {
			return badRequest("documentDigests[%d].hashAlgorithmOID must be the approved %s", i, activation.HashOID(hash))
		}
		if aerr := checkSignAlgo(d.SignAlgo, hash); aerr != nil {
			return aerr
		}
		if d.SignatureFormat != "C" {
			return badRequest("documentDigests[%d]: only signature_format C (CAdES) can be made from a digest", i)
		}
		level, err := formats.ParseLevel(d.ConformanceLevel)
		if err != nil {
			return badRequest("documentDigests[%d]: %s", i, strings.TrimPrefix(err.Error(), "formats: "))
		}
		for k, hv := range d.Hashes {
			h, err := decodeB64(hv)
			if err != nil || len(h) != hash.Size() {
				return badRequest("documentDigests[%d].hashes[%d] is not a base64 %s digest", i, k, hash)
			}
			jobs = append(jobs, job{format: "C", level: level, digest: h, digests: true})
		}
	}
	hashes := make([][]byte, len(jobs))
	for i, j := range jobs {
		hashes[i] = j.digest
	}
	areq, docs, cert, signer, err := s.activate(ctx, at, req.CredentialID, req.SAD, hash, hashes)
	if err != nil {
		return err
	}
	fs, err := s.formatSigner(ctx, signer, cert, hash)
	if err != nil {
		return err
	}
	out := map[string][]string{}
	var recFormats []string
	for _, j := range jobs {
		res, name, err := s.sign(ctx, fs, cert, j, areq)
		if err != nil {
			return err
		}
		recFormats = append(recFormats, name)
		if j.format == "C" {
			out["SignatureObject"] = append(out["SignatureObject"], b64(res))
		} else {
			out["DocumentWithSignature"] = append(out["DocumentWithSignature"], b64(res))
		}
	}
	// docs follow hashes' order, which is jobs' order.
	if err := s.record(ctx, areq, cert, docs, recFormats); err != nil {
		return err
	}
	resp := map[string]any{}
	for k, v := range out {
		resp[k] = v
	}
	if req.ReturnValidationInfo {
		vi, err := s.validationInfo(ctx, cert)
		if err != nil {
			return err
		}
		resp["validationInfo"] = vi
	}
	writeJSON(w, resp)
	return nil
}

// approvedHash is the hash algorithm of the request's digests: the one of
// documentDigests, or SHA-256 for whole documents unless the signAlgo asks
// for another.
func (s *Service) approvedHash(ctx context.Context, at provider.AccessToken, req signDocRequest) (crypto.Hash, error) {
	for _, d := range req.DocumentDigests {
		h, err := activation.ParseHashOID(d.HashAlgorithmOID)
		if err != nil {
			return 0, badRequest("invalid parameter hashAlgorithmOID")
		}
		return h, nil
	}
	switch req.Documents[0].SignAlgo {
	case oidECDSAWithSHA384:
		return crypto.SHA384, nil
	case oidECDSAWithSHA512:
		return crypto.SHA512, nil
	}
	return crypto.SHA256, nil
}

// documentJob decodes and checks one document of signDoc.
func documentJob(i int, d signDocDocument, hash crypto.Hash, max int64) (job, error) {
	if aerr := checkSignAlgo(d.SignAlgo, hash); aerr != nil {
		return job{}, aerr
	}
	level, err := formats.ParseLevel(d.ConformanceLevel)
	if err != nil {
		return job{}, badRequest("documents[%d]: %s", i, strings.TrimPrefix(err.Error(), "formats: "))
	}
	content, err := decodeB64(d.Document)
	if err != nil || len(content) == 0 {
		return job{}, badRequest("documents[%d].document is not base64", i)
	}
	if int64(len(content)) > max {
		return job{}, &apiError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", desc: fmt.Sprintf("documents[%d] is larger than %d bytes", i, max)}
	}
	h := hash.New()
	h.Write(content)
	j := job{format: d.SignatureFormat, level: level, content: content, digest: h.Sum(nil)}
	switch d.SignatureFormat {
	case "P":
		if d.SignedEnvelopeProperty != "" && d.SignedEnvelopeProperty != "Certification" && d.SignedEnvelopeProperty != "Revision" {
			return job{}, badRequest("documents[%d]: PAdES signed_envelope_property is Certification or Revision", i)
		}
		doc, err := pdf.Open(bytes.NewReader(content), int64(len(content)), pdf.Limits{MaxSize: max})
		if err != nil {
			return job{}, badRequest("documents[%d] is not a PDF we can sign: %s", i, pdfReason(err))
		}
		if d.Appearance != nil {
			j.appear = &pdf.Appearance{Page: d.Appearance.Page, Rect: d.Appearance.Rect}
		}
		// Open reads only the cross-reference data; Prepare also reads the
		// catalog, the form and the page. A dry run here refuses a PDF or
		// an appearance we cannot use before the activation data is spent
		// (afterwards it was a 500 and a lost SAD).
		if _, err := doc.Prepare(pdf.SignOptions{Visible: j.appear}); err != nil {
			if errors.Is(err, pdf.ErrInvalidOptions) {
				return job{}, badRequest("documents[%d].appearance cannot be used: %s", i, strings.TrimPrefix(err.Error(), "pdf: invalid options: "))
			}
			return job{}, badRequest("documents[%d] is not a PDF we can sign: %s", i, pdfReason(err))
		}
	case "C":
		if d.SignedEnvelopeProperty != "" && d.SignedEnvelopeProperty != "Detached" {
			return job{}, badRequest("documents[%d]: CAdES signatures are detached", i)
		}
		j.detach = true
	case "J":
		if level == formats.LevelLT {
			return job{}, badRequest("documents[%d]: JAdES is offered at B-B and B-T", i)
		}
		j.detach = d.SignedEnvelopeProperty == "Detached"
		if d.SignedEnvelopeProperty != "" && d.SignedEnvelopeProperty != "Detached" && d.SignedEnvelopeProperty != "Attached" {
			return job{}, badRequest("documents[%d]: JAdES signed_envelope_property is Attached or Detached", i)
		}
	default:
		return job{}, badRequest("documents[%d]: signature_format must be C, P or J", i)
	}
	if d.SignatureFormat == "C" && level == formats.LevelLT {
		return job{}, badRequest("documents[%d]: CAdES is offered at B-B and B-T", i)
	}
	return j, nil
}

// pdfReason says in words why a PDF was refused.
func pdfReason(err error) string {
	switch {
	case errors.Is(err, pdf.ErrEncrypted):
		return "it is encrypted"
	case errors.Is(err, pdf.ErrTooLarge):
		return "it is too large"
	}
	return "it is malformed"
}

// formatSigner gathers what the AdES builders need.
func (s *Service) formatSigner(ctx context.Context, key crypto.Signer, cert ca.Certificate, hash crypto.Hash) (formats.Signer, error) {
	_, tsaCert, tsaChain, err := s.CA.TSA(ctx)
	if err != nil {
		return formats.Signer{}, err
	}
	return formats.Signer{
		Key: key, Cert: cert.Cert, Chain: cert.Chain, Hash: hash, TSA: s.TSA,
		TSAChain: append([]*x509.Certificate{tsaCert}, tsaChain...),
		Revocation: func(ctx context.Context) (formats.Revocation, error) {
			vi, err := s.validationMaterial(ctx, cert)
			return vi, err
		},
		Now: s.opts.SigningClock,
	}, nil
}

// sign makes one signature.
func (s *Service) sign(ctx context.Context, fs formats.Signer, cert ca.Certificate, j job, req activation.Request) ([]byte, string, error) {
	switch j.format {
	case "C":
		sig, err := fs.CAdES(ctx, j.digest, j.level)
		return sig, "CAdES-" + string(j.level), err
	case "J":
		sig, err := fs.JAdES(ctx, j.content, j.level, j.detach)
		return sig, "JAdES-" + string(j.level), err
	}
	opts := formats.PDFOptions{Name: cert.Cert.Subject.CommonName, Reason: req.Description, Location: "eidp"}
	if opts.Reason == "" {
		opts.Reason = "Signed with eidp"
	}
	if j.appear != nil {
		a := *j.appear
		a.Lines = []string{"Digitally signed by " + cert.Cert.Subject.CommonName, fs.Now().UTC().Format("2006-01-02 15:04:05 MST"), opts.Reason}
		opts.Visible = &a
	}
	var buf bytes.Buffer
	if _, err := fs.PAdES(ctx, bytes.NewReader(j.content), int64(len(j.content)), &buf, j.level, opts); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "PAdES-" + string(j.level), nil
}

// validationMaterial is the B-LT material for a resident certificate: an
// OCSP response for it and the CRLs of the issuing CA and the root.
func (s *Service) validationMaterial(ctx context.Context, cert ca.Certificate) (formats.Revocation, error) {
	resp, err := s.CA.OCSPResponse(ctx, cert.Cert)
	if err != nil {
		return formats.Revocation{}, err
	}
	crl, err := s.CA.CRL(ctx)
	if err != nil {
		return formats.Revocation{}, err
	}
	root, err := s.CA.RootCRL(ctx)
	if err != nil {
		return formats.Revocation{}, err
	}
	return formats.Revocation{OCSPs: [][]byte{resp}, CRLs: [][]byte{crl, root}}, nil
}

// validationInfo: CSC signDoc's returnValidationInfo.
func (s *Service) validationInfo(ctx context.Context, cert ca.Certificate) (map[string][]string, error) {
	m, err := s.validationMaterial(ctx, cert)
	if err != nil {
		return nil, err
	}
	vi := map[string][]string{"ocsp": {}, "crl": {}, "certificates": {b64(cert.Cert.Raw)}}
	for _, o := range m.OCSPs {
		vi["ocsp"] = append(vi["ocsp"], b64(o))
	}
	for _, c := range m.CRLs {
		vi["crl"] = append(vi["crl"], b64(c))
	}
	for _, c := range cert.Chain {
		vi["certificates"] = append(vi["certificates"], b64(c.Raw))
	}
	return vi, nil
}
