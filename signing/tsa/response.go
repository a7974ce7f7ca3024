package tsa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// PKIStatus values (RFC 3161 §2.4.2).
const (
	StatusGranted                = 0
	StatusGrantedWithMods        = 1
	StatusRejection              = 2
	StatusWaiting                = 3
	StatusRevocationWarning      = 4
	StatusRevocationNotification = 5
)

// MaxRequestSize bounds a TimeStampReq accepted over HTTP.
const MaxRequestSize = 64 << 10

// Respond answers a DER TimeStampReq with a DER TimeStampResp (RFC 3161
// §2.4.2): status granted and a token, or status rejection with the
// PKIFailureInfo of ParseRequest, unacceptedPolicy for a reqPolicy other
// than ours, or systemFailure when signing fails. Only a signing failure
// returns an error (for the log) — together with the systemFailure
// response to send.
func (a *Authority) Respond(ctx context.Context, req []byte) ([]byte, error) {
	r, err := ParseRequest(req)
	if err != nil {
		return rejection(err)
	}
	if oidSet(r.Policy) && !r.Policy.Equal(a.Policy) {
		return rejection(refuse(UnacceptedPolicy, "policy %s is not served (this TSA issues under %s)", r.Policy, a.Policy))
	}
	token, err := a.stamp(ctx, r.hashAlg, r.Digest, r.Nonce, r.CertReq)
	if err != nil {
		resp, _ := encodeResponse(StatusRejection, SystemFailure, "the time-stamp could not be signed", nil)
		return resp, fmt.Errorf("tsa: signing a time-stamp token: %w", err)
	}
	return encodeResponse(StatusGranted, -1, "", token)
}

func rejection(err error) ([]byte, error) {
	var re *RequestError
	if !errors.As(err, &re) {
		re = &RequestError{Fail: BadRequest, Text: "request refused"}
	}
	return encodeResponse(StatusRejection, re.Fail, re.Text, nil)
}

// encodeResponse writes TimeStampResp { PKIStatusInfo, token OPTIONAL }.
// fail < 0 leaves failInfo out.
func encodeResponse(status int, fail FailureInfo, text string, token []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(int64(status))
			if text != "" {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PKIFreeText
					b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(text)) })
				})
			}
			if fail >= 0 {
				// A named BIT STRING in DER has no trailing zero bits (X.690 §11.2.2).
				n := int(fail)
				bits := make([]byte, n/8+1)
				bits[n/8] = 0x80 >> (n % 8)
				b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
					b.AddUint8(uint8(7 - n%8))
					b.AddBytes(bits)
				})
			}
		})
		if token != nil {
			b.AddBytes(token)
		}
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: encoding TimeStampResp: %w", ErrConfig, err)
	}
	return out, nil
}

// StatusError is a TimeStampResp without a granted status.
type StatusError struct {
	Status   int
	FailInfo []FailureInfo
	Text     string // the statusString from the TSA, joined
}

func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString("tsa: request rejected by the time-stamp authority: status ")
	b.WriteString(statusName(e.Status))
	for _, f := range e.FailInfo {
		b.WriteString(", ")
		b.WriteString(f.String())
	}
	if e.Text != "" {
		b.WriteString(": ")
		b.WriteString(strconv.Quote(e.Text))
	}
	return b.String()
}

func (e *StatusError) Is(target error) bool { return target == ErrRejected }

func statusName(s int) string {
	names := []string{"granted", "grantedWithMods", "rejection", "waiting", "revocationWarning", "revocationNotification"}
	if s >= 0 && s < len(names) {
		return names[s]
	}
	return strconv.Itoa(s)
}

// ParseResponse reads a DER TimeStampResp and returns its token (a DER
// ContentInfo; check it with ParseToken and Token.Verify). A status other
// than granted or grantedWithMods gives a *StatusError (errors.Is
// ErrRejected); a malformed response ErrMalformed.
func ParseResponse(resp []byte) ([]byte, error) {
	s := cryptobyte.String(resp)
	var seq, info cryptobyte.String
	var status int64
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1(&info, cbasn1.SEQUENCE) ||
		!info.ReadASN1Int64WithTag(&status, cbasn1.INTEGER) {
		return nil, fmt.Errorf("%w: not a DER TimeStampResp", ErrMalformed)
	}
	se := &StatusError{Status: int(status)}
	if info.PeekASN1Tag(cbasn1.SEQUENCE) {
		var texts cryptobyte.String
		if !info.ReadASN1(&texts, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: statusString", ErrMalformed)
		}
		var parts []string
		for !texts.Empty() {
			var t cryptobyte.String
			if !texts.ReadASN1(&t, cbasn1.UTF8String) {
				return nil, fmt.Errorf("%w: statusString", ErrMalformed)
			}
			parts = append(parts, string(t))
		}
		se.Text = strings.Join(parts, "; ")
	}
	if info.PeekASN1Tag(cbasn1.BIT_STRING) {
		var bits cryptobyte.String
		var unused uint8
		if !info.ReadASN1(&bits, cbasn1.BIT_STRING) || !bits.ReadUint8(&unused) || unused > 7 {
			return nil, fmt.Errorf("%w: failInfo", ErrMalformed)
		}
		for i, by := range bits {
			for j := range 8 {
				if by&(0x80>>j) != 0 {
					se.FailInfo = append(se.FailInfo, FailureInfo(i*8+j))
				}
			}
		}
	}
	if !info.Empty() {
		return nil, fmt.Errorf("%w: PKIStatusInfo", ErrMalformed)
	}
	if status != StatusGranted && status != StatusGrantedWithMods {
		if !seq.Empty() {
			return nil, fmt.Errorf("%w: a token with status %s", ErrMalformed, statusName(int(status)))
		}
		return nil, se
	}
	var token cryptobyte.String
	if !seq.ReadASN1Element(&token, cbasn1.SEQUENCE) || !seq.Empty() {
		return nil, fmt.Errorf("%w: status granted without one time-stamp token", ErrMalformed)
	}
	return token, nil
}

// ServeHTTP is the HTTP transport of RFC 3161 §3.4: a POST of
// application/timestamp-query answered 200 with application/timestamp-reply
// (a rejection is a TimeStampResp too). Other methods get 405, other media
// types 415, bodies over MaxRequestSize 413.
func (a *Authority) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST with an application/timestamp-query body (RFC 3161 §3.4)", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/timestamp-query" {
		http.Error(w, "the body must be application/timestamp-query (RFC 3161 §3.4)", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("a time-stamp request is at most %d bytes", MaxRequestSize), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	resp, err := a.Respond(r.Context(), body)
	if err != nil {
		a.Logger.ErrorContext(r.Context(), "time-stamp signature failed", "err", err)
	}
	if resp == nil {
		http.Error(w, "time-stamp authority unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.Write(resp)
}
