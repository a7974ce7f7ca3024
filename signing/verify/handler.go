package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"eidp/internal/httpx"
)

// Handler serves POST /signing/verify. The body is the signed file:
// application/pdf, application/pkcs7-signature (or -mime, DER or PEM),
// application/jose+json or application/json; or multipart/form-data with a
// "signature" part and, for a detached signature, a "content" part. Other
// or missing content types are recognised by Sniff. The answer is the
// Report as JSON (200, whatever the indication); input that is not a signed
// document gets 400 with a JSON error, a body over maxBytes 413, a method
// other than POST 405.
func Handler(v *Verifier, maxBytes int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			httpx.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST with the signed document as the body")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
		mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		var (
			rep Report
			err error
		)
		if mediaType == "multipart/form-data" {
			rep, err = verifyForm(r.Context(), v, r.Body, params["boundary"])
		} else {
			var body []byte
			if body, err = io.ReadAll(r.Body); err == nil {
				rep, err = verifyBody(r.Context(), v, mediaType, body)
			}
		}
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			httpx.WriteError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the document is larger than this service accepts")
		case errors.Is(err, ErrNoSignature):
			httpx.WriteError(w, http.StatusBadRequest, "invalid_request", "the document has no signature")
		case errors.Is(err, ErrFormat), errors.Is(err, errBadForm):
			// Parse errors describe the caller's own document.
			httpx.WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
		case err != nil:
			httpx.WriteError(w, http.StatusInternalServerError, "server_error", "the document could not be verified")
		default:
			httpx.WriteJSON(w, http.StatusOK, rep)
		}
	})
}

var errBadForm = errors.New("verify: bad multipart form")

func verifyBody(ctx context.Context, v *Verifier, mediaType string, body []byte) (Report, error) {
	kind := map[string]string{
		"application/pdf":               "pdf",
		"application/pkcs7-signature":   "cms",
		"application/pkcs7-mime":        "cms",
		"application/cms":               "cms",
		"application/jose+json":         "jades",
		"application/jose":              "jades",
		"application/json":              "jades",
		"application/x-pkcs7-signature": "cms",
	}[mediaType]
	if kind == "" {
		kind = Sniff(body)
	}
	switch kind {
	case "pdf":
		return v.VerifyPDF(ctx, bytes.NewReader(body), int64(len(body)))
	case "cms":
		return v.VerifyCMS(ctx, body, nil)
	case "jades":
		return v.VerifyJAdES(ctx, body, nil)
	}
	return Report{}, fmt.Errorf("%w: not a PDF, CMS or JAdES signature", ErrFormat)
}

// verifyForm reads a multipart form with "signature" and optional
// "content" (the body as a whole is bounded by the caller).
func verifyForm(ctx context.Context, v *Verifier, body io.Reader, boundary string) (Report, error) {
	if boundary == "" {
		return Report{}, fmt.Errorf("%w: multipart body without a boundary", errBadForm)
	}
	mr := multipart.NewReader(body, boundary)
	var signature, content []byte
	hasContent := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return Report{}, err
			}
			return Report{}, fmt.Errorf("%w: %w", errBadForm, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return Report{}, err
		}
		switch p.FormName() {
		case "signature":
			signature = b
		case "content":
			content, hasContent = b, true
		}
	}
	if signature == nil {
		return Report{}, fmt.Errorf(`%w: the form has no "signature" part`, errBadForm)
	}
	if !hasContent {
		return verifyBody(ctx, v, "", signature)
	}
	switch Sniff(signature) {
	case "cms":
		return v.VerifyCMS(ctx, signature, bytes.NewReader(content))
	case "jades":
		return v.VerifyJAdES(ctx, signature, content)
	}
	return Report{}, fmt.Errorf("%w: the signature part is neither CMS nor JAdES", ErrFormat)
}
