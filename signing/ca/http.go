package ca

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Handler serves the CA's public material under /pki/ (mount it at
// "/pki/"): the root and issuing CA certificates (DER,
// application/pkix-cert), their CRLs (application/pkix-crl) and the OCSP
// responder, by POST /pki/ocsp and GET /pki/ocsp/{url-encoded base64 DER
// request} (RFC 6960 Appendix A). Nothing here needs authentication.
func (a *Authority) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathRootCert, a.serveCert(KindRoot))
	mux.HandleFunc("GET "+PathIssuingCert, a.serveCert(KindIssuing))
	mux.HandleFunc("GET "+PathRootCRL, a.serveCRL(KindRoot))
	mux.HandleFunc("GET "+PathIssuingCRL, a.serveCRL(KindIssuing))
	mux.HandleFunc("POST "+PathOCSP, a.ocspPOST)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// GET requests carry base64, which may contain "//": route them
		// before ServeMux, which would "clean" the path with a redirect.
		if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), PathOCSP+"/"); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			a.ocspGET(w, r, rest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (a *Authority) serveCert(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cur, err := a.complete(r.Context())
		if err != nil {
			a.httpError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(cur[kind].cert.Raw)
	}
}

func (a *Authority) serveCRL(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		der, err := a.crlOf(r.Context(), kind)
		if err != nil {
			a.httpError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		// Short: a revocation must reach relying parties within minutes.
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(der)
	}
}

func (a *Authority) httpError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotInitialised) {
		http.Error(w, "the certification authority is not initialised", http.StatusServiceUnavailable)
		return
	}
	a.log.ErrorContext(r.Context(), "ca: serving PKI material", "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func (a *Authority) ocspPOST(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/ocsp-request" {
			http.Error(w, "Content-Type must be application/ocsp-request", http.StatusUnsupportedMediaType)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOCSPRequestBytes))
	if err != nil {
		a.writeOCSP(w, r, nil, time.Time{}, fmt.Errorf("%w: %w", errMalformedOCSP, err), false)
		return
	}
	resp, next, err := a.answerOCSP(r.Context(), body)
	a.writeOCSP(w, r, resp, next, err, false)
}

// maxOCSPPath bounds the escaped GET path: base64 of maxOCSPRequestBytes,
// percent-encoded.
const maxOCSPPath = 3 * (maxOCSPRequestBytes*4/3 + 4)

func (a *Authority) ocspGET(w http.ResponseWriter, r *http.Request, escaped string) {
	if len(escaped) > maxOCSPPath {
		a.writeOCSP(w, r, nil, time.Time{}, fmt.Errorf("%w: request path too long", errMalformedOCSP), false)
		return
	}
	der, err := decodeOCSPPath(escaped)
	if err != nil {
		a.writeOCSP(w, r, nil, time.Time{}, err, false)
		return
	}
	resp, next, err := a.answerOCSP(r.Context(), der)
	a.writeOCSP(w, r, resp, next, err, true)
}

// decodeOCSPPath undoes the url-encoding and base64 of a GET request.
// Clients differ: some leave "/" and "+" unescaped, some use the URL-safe
// alphabet or drop the padding; all are accepted.
func decodeOCSPPath(escaped string) ([]byte, error) {
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformedOCSP, err)
	}
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	}
	der, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %w", errMalformedOCSP, err)
	}
	return der, nil
}

// writeOCSP writes a response, or the OCSP error response matching err
// (RFC 6960 §4.2.1: malformedRequest, unauthorized, internalError); OCSP
// errors travel with HTTP 200 as OCSP messages. Successful GET responses
// are cacheable until nextUpdate (RFC 5019 §6.2).
func (a *Authority) writeOCSP(w http.ResponseWriter, r *http.Request, resp []byte, next time.Time, err error, cacheable bool) {
	h := w.Header()
	h.Set("Content-Type", "application/ocsp-response")
	switch {
	case err == nil:
		if cacheable {
			now := a.clock().Truncate(time.Second)
			maxAge := max(int(next.Sub(now).Seconds()), 0)
			h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d, no-transform, must-revalidate", maxAge))
			h.Set("Last-Modified", now.Format(http.TimeFormat))
			h.Set("Expires", next.UTC().Format(http.TimeFormat))
		} else {
			h.Set("Cache-Control", "no-store")
		}
	case errors.Is(err, errMalformedOCSP):
		resp = ocsp.MalformedRequestErrorResponse
	case errors.Is(err, errUnauthorizedOCSP):
		resp = ocsp.UnauthorizedErrorResponse
	case errors.Is(err, ErrNotInitialised):
		resp = ocsp.TryLaterErrorResponse
	default:
		a.log.ErrorContext(r.Context(), "ca: OCSP", "err", err)
		resp = ocsp.InternalErrorErrorResponse
	}
	if err != nil {
		h.Set("Cache-Control", "no-store")
	}
	w.Write(resp)
}
