package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// postDrainBytes is how much of a POST's response body is read, and thrown
// away, so that the connection can be reused. A notification's answer is its
// status; the body is never looked at.
const postDrainBytes = 4 << 10

// PostForm sends form to rawURL as an application/x-www-form-urlencoded POST
// and returns the response status. It is for notifications to a party's
// registered endpoint (OpenID Connect Back-Channel Logout 1.0 §2.5), and
// applies the URL and address rules of Get: https only unless AllowHTTP, no
// private addresses unless AllowPrivateNetworks (checked before dialing and
// for every resolved address at dial time), Options.Timeout for the whole
// exchange.
//
// Unlike Get it follows no redirect whatever Options.MaxRedirects says: a
// redirected POST would carry the form (a token) to a place the party never
// registered. Nothing is cached, and concurrent calls are not merged: each is
// its own request, bounded by the caller's ctx as well as by Timeout.
//
// A response with a status other than 2xx gives that status and an error
// wrapping ErrStatus; a redirect is such a response. When no response came
// (refused URL, connection or TLS failure, timeout) the status is 0. Errors
// name the URL (without any password) and never carry the form or the
// response body.
func (f *Fetcher) PostForm(ctx context.Context, rawURL string, form url.Values) (status int, err error) {
	u, err := f.checkURL(rawURL)
	if err != nil {
		return 0, err
	}
	shown := u.Redacted()
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("fetch %s: %w", shown, err)
	}
	reqCtx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return 0, fmt.Errorf("fetch %s: %w: %w", shown, ErrForbiddenURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)

	// The transport, and so the dial-time address check, is Get's; only the
	// redirect policy differs.
	c := &http.Client{Transport: f.client.Transport, CheckRedirect: refuseRedirects}
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return 0, fmt.Errorf("fetch %s: %w", shown, ctx.Err())
		}
		return 0, f.exchangeError(reqCtx, shown, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, postDrainBytes))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		note := ""
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			note = " (redirect not followed: a POST is never redirected)"
		}
		return resp.StatusCode, fmt.Errorf("fetch %s: %w %d%s", shown, ErrStatus, resp.StatusCode, note)
	}
	return resp.StatusCode, nil
}

func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
