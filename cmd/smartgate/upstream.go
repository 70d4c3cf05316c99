package main

// Proxy mode (serve --fhir-upstream): the FHIR endpoint over an upstream
// FHIR server (package fhir/upstream), with smartgate's own credentials
// for it, and its metrics.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/fhir/search"
	fhirupstream "github.com/smartgate/smartgate/fhir/upstream"
)

// newFHIRUpstream returns proxy mode's store, or nil without
// --fhir-upstream.
func newFHIRUpstream(ctx context.Context, up config.Upstream, reg *search.Registry, metrics prometheus.Registerer, logger *slog.Logger) (*fhirupstream.Store, error) {
	if up.URL == "" {
		return nil, nil
	}
	client, err := upstreamClient(up)
	if err != nil {
		return nil, err
	}
	authorize, err := upstreamCredentials(ctx, up, client)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(up.URL)
	if u.Scheme == "http" && !config.IsLoopbackHost(u.Hostname()) {
		logger.Warn("fhir-upstream is plain http on a non-loopback host: health data crosses the network unencrypted", "host", u.Host)
	}
	return fhirupstream.New(fhirupstream.Config{BaseURL: up.URL, Client: client, Authorize: authorize, Timeout: up.Timeout,
		Registry: reg, Observe: upstreamMetrics(metrics, u.Host), Logger: logger})
}

// upstreamClient is the HTTP client to the upstream: its CAs, the client
// certificate smartgate presents, TLS 1.2 at least.
func upstreamClient(up config.Upstream) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = up.Timeout
	if up.CA != "" {
		pem, err := os.ReadFile(up.CA)
		if err != nil {
			return nil, fmt.Errorf("fhir-upstream-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("fhir-upstream-ca: %s holds no PEM certificate", up.CA)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if up.Cert != "" {
		cert, err := tls.LoadX509KeyPair(up.Cert, up.Key)
		if err != nil {
			return nil, fmt.Errorf("fhir-upstream-cert: %w", err)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: tr}, nil
}

// upstreamCredentials returns what adds smartgate's credentials to an
// upstream request: a static header, or a client-credentials token from
// the upstream's own token endpoint (cached until shortly before it
// expires); nil for none.
func upstreamCredentials(ctx context.Context, up config.Upstream, client *http.Client) (func(context.Context, *http.Request) error, error) {
	line := up.Header
	if up.HeaderFile != "" {
		b, err := os.ReadFile(up.HeaderFile)
		if err != nil {
			return nil, fmt.Errorf("fhir-upstream-header-file: %w", err)
		}
		line = string(b)
	}
	if line != "" {
		name, value, err := config.ParseHeaderLine(line)
		if err != nil {
			return nil, fmt.Errorf("fhir-upstream-header: %w", err)
		}
		return func(_ context.Context, r *http.Request) error { r.Header.Set(name, value); return nil }, nil
	}
	if up.TokenURL == "" {
		return nil, nil
	}
	secret, err := os.ReadFile(up.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("fhir-upstream-client-secret-file: %w", err)
	}
	cc := clientcredentials.Config{ClientID: up.ClientID, ClientSecret: strings.TrimSpace(string(secret)), TokenURL: up.TokenURL,
		Scopes: strings.Fields(up.Scope), AuthStyle: oauth2.AuthStyleInHeader}
	ts := cc.TokenSource(context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, client))
	return func(_ context.Context, r *http.Request) error {
		tok, err := ts.Token()
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				return fmt.Errorf("upstream token endpoint: %d %s", re.Response.StatusCode, re.ErrorCode)
			}
			return fmt.Errorf("upstream token endpoint: %w", err)
		}
		tok.SetAuthHeader(r)
		return nil
	}, nil
}

// upstreamMetrics counts and times the upstream requests by operation and
// status ("0": none, the request failed).
func upstreamMetrics(reg prometheus.Registerer, host string) func(op string, status int, d time.Duration) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "smartgate_fhir_upstream_request_duration_seconds",
		Help:        "Requests to the upstream FHIR server (proxy mode, gateway) by operation and status code (0: no answer).",
		ConstLabels: prometheus.Labels{"upstream": host},
		Buckets:     []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"op", "code"})
	if reg != nil {
		reg.MustRegister(h)
	}
	return func(op string, status int, d time.Duration) {
		h.WithLabelValues(op, strconv.Itoa(status)).Observe(d.Seconds())
	}
}
