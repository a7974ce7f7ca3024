package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain applies middleware so that the first listed runs first (outermost).
func Chain(h http.Handler, mw ...Middleware) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

type ctxKey int

const requestIDKey ctxKey = iota

// RequestIDHeader carries the request ID to the client and from a trusted proxy.
const RequestIDHeader = "X-Request-Id"

// RequestIDFrom returns the request's ID, or "" outside a request.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// RequestID gives every request an ID: the one a proxy sent, if it is short
// and made of safe characters (so it cannot forge log lines), else a new
// random one. The ID is echoed in the response header.
func RequestID() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !safeRequestID(id) {
				id = newRequestID()
			}
			w.Header().Set(RequestIDHeader, id)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
		})
	}
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func safeRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Recover turns a panic into a 500 response that says nothing of the cause;
// the cause and stack go to the log with the request ID.
func Recover(log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request",
					"request_id", RequestIDFrom(r.Context()), "method", r.Method, "route", routeOf(r),
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				WriteError(w, http.StatusInternalServerError, "server_error", "internal error")
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// SecurityHeaderOptions tunes SecurityHeaders.
type SecurityHeaderOptions struct {
	// HSTS sends Strict-Transport-Security; set it when clients reach the
	// server over HTTPS (directly or through a proxy).
	HSTS bool
}

// DefaultCSP is a strict Content-Security-Policy: no inline script, no
// framing (frame-ancestors 'none'), resources only from our own origin. Pages
// that need more set their own header, which wins.
const DefaultCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// SecurityHeaders sets the headers every response carries.
func SecurityHeaders(opts SecurityHeaderOptions) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", DefaultCSP)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
			if opts.HSTS {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// LimitBody caps request bodies at max bytes; a handler reading more gets an
// error that IsBodyTooLarge recognises, and a declared Content-Length above
// the cap is refused with 413 before the handler runs. larger names exact
// request paths allowed a larger body (documents to sign or verify), whose
// handlers apply their own, tighter checks.
func LimitBody(max int64, larger ...PathLimit) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			limit := max
			for _, l := range larger {
				if r.URL.Path == l.Path {
					limit = l.Max
				}
			}
			if r.ContentLength > limit {
				WriteError(w, http.StatusRequestEntityTooLarge, "invalid_request",
					fmt.Sprintf("request body larger than %d bytes", limit))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			next.ServeHTTP(w, r)
		})
	}
}

// PathLimit is a body limit for one request path.
type PathLimit struct {
	Path string
	Max  int64
}

// IsBodyTooLarge reports whether err came from reading past LimitBody's cap.
func IsBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// AccessLog logs one line per request: method, route pattern, path, status,
// bytes, duration and request ID. Never the query string or the body.
func AccessLog(log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := wrap(w)
			next.ServeHTTP(rec, r)
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			log.Log(r.Context(), level, "http request",
				"request_id", RequestIDFrom(r.Context()), "method", r.Method, "route", routeOf(r),
				"path", r.URL.Path, "status", rec.status, "bytes", rec.bytes,
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		})
	}
}

// routeOf is the ServeMux pattern that matched, so metrics and logs group by
// route rather than by path (which may carry identifiers).
func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}

// recorder captures the status and size of a response. Unwrap lets
// http.ResponseController reach the underlying writer's Flush and deadlines.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func wrap(w http.ResponseWriter) *recorder {
	if rec, ok := w.(*recorder); ok {
		return rec
	}
	return &recorder{ResponseWriter: w, status: http.StatusOK}
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
