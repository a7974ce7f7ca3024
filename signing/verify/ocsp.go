package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP is a StatusSource that asks the OCSP responder named in the
// certificate's Authority Information Access extension (RFC 5280
// §4.2.2.1) with an RFC 6960 request over HTTP POST (Appendix A.1). The
// response must be signed by the issuer or a responder it delegated to
// (§4.2.2.2) and be current. It is meant for the command line: it fetches
// whatever URL the certificate names, so it is not for a server facing
// untrusted uploads.
type OCSP struct {
	// Client makes the requests; nil means a client with Timeout.
	Client *http.Client
	// Timeout bounds one request; default 10 s.
	Timeout time.Duration
	// Now is the time responses must be current at; nil means time.Now.
	Now func() time.Time
}

var _ StatusSource = (*OCSP)(nil)

const (
	maxOCSPResponse    = 64 << 10
	defaultOCSPTimeout = 10 * time.Second
	// ocspClockSkew tolerates responder and local clocks that differ.
	ocspClockSkew = 5 * time.Minute
)

// ErrNoResponder means the certificate names no usable OCSP responder.
var ErrNoResponder = errors.New("verify: the certificate names no OCSP responder")

// Status asks cert's OCSP responder.
func (o *OCSP) Status(ctx context.Context, cert, issuer *x509.Certificate) (Status, error) {
	var responder string
	for _, u := range cert.OCSPServer {
		if p, err := url.Parse(u); err == nil && (p.Scheme == "http" || p.Scheme == "https") {
			responder = u
			break
		}
	}
	if responder == "" {
		return Status{}, ErrNoResponder
	}
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return Status{}, fmt.Errorf("verify: OCSP request: %w", err)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultOCSPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, responder, bytes.NewReader(req))
	if err != nil {
		return Status{}, fmt.Errorf("verify: OCSP request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	hreq.Header.Set("Accept", "application/ocsp-response")
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return Status{}, fmt.Errorf("verify: OCSP responder %s: %w", responder, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("verify: OCSP responder %s answered HTTP %d", responder, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponse+1))
	if err != nil {
		return Status{}, fmt.Errorf("verify: OCSP responder %s: %w", responder, err)
	}
	if len(body) > maxOCSPResponse {
		return Status{}, fmt.Errorf("verify: OCSP responder %s: response larger than %d bytes", responder, maxOCSPResponse)
	}
	r, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return Status{}, fmt.Errorf("verify: OCSP response from %s: %w", responder, err)
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	// RFC 6960 §3.2 items 5 and 6: current enough.
	if r.ThisUpdate.After(now.Add(ocspClockSkew)) || (!r.NextUpdate.IsZero() && r.NextUpdate.Before(now.Add(-ocspClockSkew))) {
		return Status{}, fmt.Errorf("verify: OCSP response from %s is not current (thisUpdate %s, nextUpdate %s)", responder, stamp(r.ThisUpdate), stamp(r.NextUpdate))
	}
	switch r.Status {
	case ocsp.Good:
		return Status{Known: true}, nil
	case ocsp.Revoked:
		return Status{Known: true, Revoked: true, RevokedAt: r.RevokedAt, Reason: r.RevocationReason}, nil
	default:
		return Status{}, nil // "unknown" (RFC 6960 §2.2)
	}
}
