package idp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Bounds of upstream calls (HTTPClient's defaults).
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxBody = 1 << 20
)

// ErrTooLarge is the read error of an upstream answer larger than the
// client's bound.
var ErrTooLarge = errors.New("idp: upstream answer too large")

// HTTPClient is the one client of upstream calls: every call ends within
// timeout (DefaultTimeout when <= 0), and reading more than maxBody bytes
// (DefaultMaxBody when <= 0) of an answer fails with ErrTooLarge. It
// follows a redirect only to the same scheme and host (at most 5): an
// upstream cannot send smartgate to another host, an internal service or
// plain http (server-side request forgery).
func HTTPClient(base http.RoundTripper, timeout time.Duration, maxBody int64) *http.Client {
	if base == nil {
		base = http.DefaultTransport
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: limitTransport{base: base, max: maxBody},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("idp: too many redirects")
			}
			if first := via[0].URL; req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
				return fmt.Errorf("idp: redirect from %s://%s to another origin refused", first.Scheme, first.Host)
			}
			return nil
		},
	}
}

type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// limitBody reads at most left bytes, then fails with ErrTooLarge.
type limitBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the bound from a larger one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitBody) Close() error { return b.rc.Close() }
