package main

// smartgate gateway: the FHIR enforcement point without the authorization
// server (issue 14). Tokens of --issuer whose aud is the gateway are
// verified by package rs (the issuer's JWKS, or introspection), and the
// FHIR endpoint of package fhir runs over the upstream (fhir/upstream):
// the same decisions as the embedded endpoint and proxy mode.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/rs"
	"github.com/smartgate/smartgate/server"
)

// gatewayConfig is what the gateway's flags say.
type gatewayConfig struct {
	upstream, issuer, listen, audience  string
	introspectionURL, clientID          string
	clientSecretEnv, clientSecretFile   string
	tlsCert, tlsKey, clientCA           string
	upstreamTimeout, shutdownTimeout    time.Duration
	logLevel, logFormat, trustedProxies string
	metricsAllow                        string
	maxBodyBytes                        int64
	clientSecret                        string // read from the env or file
	up                                  config.Upstream
	proxies, metricsNets                reqctx.Prefixes
	publicBase                          string // scheme://host of --audience (links)
	secure                              bool
	// httpClient reaches the issuer (discovery, keys, introspection);
	// nil: a client with a 10 s timeout. Tests set it to trust their CA.
	httpClient *http.Client
}

func parseGateway(e *env, args []string) (*gatewayConfig, error) {
	g := &gatewayConfig{}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&g.upstream, "upstream", "", "base URL of the FHIR server behind the gateway (required)")
	fs.StringVar(&g.issuer, "issuer", "", "issuer whose access tokens the gateway accepts (required)")
	fs.StringVar(&g.listen, "listen", "127.0.0.1:8090", "where the gateway listens")
	fs.StringVar(&g.audience, "audience", "", "the aud tokens must carry: the gateway's public FHIR base (default http(s)://LISTEN/fhir)")
	fs.StringVar(&g.introspectionURL, "introspection-url", "", "verify tokens by RFC 7662 introspection here instead of by the issuer's JWKS")
	fs.StringVar(&g.clientID, "client-id", "", "the gateway's client id at the introspection endpoint")
	fs.StringVar(&g.clientSecretEnv, "client-secret-env", "", "environment variable holding its client secret")
	fs.StringVar(&g.clientSecretFile, "client-secret-file", "", "file holding its client secret")
	fs.StringVar(&g.tlsCert, "tls-cert", "", "PEM certificate: serve HTTPS (certificate-bound tokens need it)")
	fs.StringVar(&g.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&g.clientCA, "client-ca", "", "PEM CAs a client certificate must chain to (default: any certificate, for RFC 8705 bound tokens)")
	fs.DurationVar(&g.upstreamTimeout, "upstream-timeout", 30*time.Second, "longest wait for one upstream request (then 504)")
	fs.DurationVar(&g.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish at shutdown")
	fs.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&g.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&g.trustedProxies, "trusted-proxies", "", "comma-separated addresses and networks whose X-Forwarded-For names the client")
	fs.StringVar(&g.metricsAllow, "metrics-allow", "127.0.0.0/8,::1", "addresses and networks that may read /metrics")
	fs.Int64Var(&g.maxBodyBytes, "max-body-bytes", fhir.DefaultMaxBodyBytes, "largest request body accepted, in bytes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, config.ErrHelp
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if err := g.validate(e); err != nil {
		return nil, usageError{err}
	}
	return g, nil
}

// validate checks the flags and fills in the derived values.
func (g *gatewayConfig) validate(e *env) error {
	var problems []string
	add := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	for name, v := range map[string]string{"upstream": g.upstream, "issuer": g.issuer} {
		if u, err := url.Parse(v); v == "" || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			add("--%s: %q is not an http(s) URL (required)", name, v)
		}
	}
	if _, _, err := net.SplitHostPort(g.listen); err != nil {
		add("--listen: %q is not host:port", g.listen)
	}
	if (g.tlsCert == "") != (g.tlsKey == "") {
		add("--tls-cert and --tls-key go together")
	}
	if g.clientCA != "" && g.tlsCert == "" {
		add("--client-ca needs --tls-cert: client certificates come over TLS")
	}
	g.secure = g.tlsCert != ""
	if g.audience == "" {
		scheme := "http"
		if g.secure {
			scheme = "https"
		}
		g.audience = scheme + "://" + g.listen + "/fhir"
	}
	if u, err := url.Parse(g.audience); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" {
		add("--audience: %q is not an http(s) URL", g.audience)
	} else {
		g.publicBase = u.Scheme + "://" + u.Host
		if !strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/fhir") {
			add("--audience: %q must end in /fhir, where the gateway serves FHIR", g.audience)
		}
	}
	if g.introspectionURL != "" {
		if g.clientID == "" || (g.clientSecretEnv == "") == (g.clientSecretFile == "") {
			add("--introspection-url needs --client-id and one of --client-secret-env or --client-secret-file")
		}
		switch {
		case g.clientSecretEnv != "":
			if g.clientSecret = e.getenv(g.clientSecretEnv); g.clientSecret == "" {
				add("--client-secret-env: %s is empty", g.clientSecretEnv)
			}
		case g.clientSecretFile != "":
			b, err := os.ReadFile(g.clientSecretFile)
			if g.clientSecret = strings.TrimSpace(string(b)); err != nil || g.clientSecret == "" {
				add("--client-secret-file: cannot read a secret from %s", g.clientSecretFile)
			}
		}
	} else if g.clientID != "" || g.clientSecretEnv != "" || g.clientSecretFile != "" {
		add("--client-id and its secret are for --introspection-url")
	}
	if g.upstreamTimeout <= 0 {
		add("--upstream-timeout must be positive")
	}
	var err error
	if g.proxies, err = reqctx.ParsePrefixes(g.trustedProxies); err != nil {
		add("--trusted-proxies: %v", err)
	}
	if g.metricsNets, err = reqctx.ParsePrefixes(g.metricsAllow); err != nil {
		add("--metrics-allow: %v", err)
	}
	g.up = config.Upstream{URL: g.upstream, Timeout: g.upstreamTimeout}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func runGateway(ctx context.Context, e *env, args []string) error {
	g, err := parseGateway(e, args)
	if err != nil {
		return err
	}
	logger := newLogger(&config.Config{LogLevel: g.logLevel, LogFormat: g.logFormat}, e.stderr)
	h, err := newGateway(ctx, g, logger)
	if err != nil {
		return err
	}
	opts := server.Options{Handler: h, Logger: logger, MaxBodyBytes: g.maxBodyBytes}
	name := "http"
	if g.secure {
		name = "https"
		opts.HTTPSAddr, opts.HTTPSURL, opts.CertFile, opts.KeyFile = g.listen, g.publicBase, g.tlsCert, g.tlsKey
	} else {
		opts.HTTPAddr, opts.HTTPURL = g.listen, g.publicBase
	}
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "smartgate %s listening on %s (%s)\n", name, srv.Addr(name), g.publicBase)
	fmt.Fprintf(e.stdout, "gateway: FHIR base %s, upstream %s, tokens of %s\n", g.audience, g.upstream, g.issuer)
	fmt.Fprintln(e.stdout, "smartgate ready")
	select {
	case err := <-srv.Err():
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// newGateway wires the gateway's handler.
func newGateway(ctx context.Context, g *gatewayConfig, logger *slog.Logger) (http.Handler, error) {
	reg, err := search.Load()
	if err != nil {
		return nil, err
	}
	metrics := server.NewMetrics()
	up, err := newFHIRUpstream(ctx, g.up, reg, metrics.Registry, logger.With("component", "upstream"))
	if err != nil {
		return nil, err
	}
	var tokens rs.Verifier
	if g.introspectionURL != "" {
		tokens, err = rs.NewIntrospection(rs.IntrospectionOptions{URL: g.introspectionURL, ClientID: g.clientID,
			ClientSecret: g.clientSecret, Issuer: g.issuer, Audience: g.audience, HTTPClient: g.httpClient})
	} else {
		tokens, err = rs.NewJWKS(rs.JWKSOptions{Issuer: g.issuer, Audience: g.audience, HTTPClient: g.httpClient})
	}
	if err != nil {
		return nil, err
	}
	// Introspection answers are cached by rs (5 s, never past exp): no
	// second cache on top, so that a revocation is seen within that bound.
	revalidate := time.Duration(0)
	if g.introspectionURL != "" {
		revalidate = -1
	}
	auth := bearer.New(bearer.ForeignVerifier{Tokens: tokens}, reg,
		bearer.Options{Audiences: []string{g.audience}, Revalidate: revalidate, Logger: logger})
	issuerDoc := &issuerDocument{issuer: g.issuer, logger: logger, client: g.httpClient}
	if issuerDoc.client == nil {
		issuerDoc.client = &http.Client{Timeout: 10 * time.Second}
	}
	fhirSrv := fhir.New(fhir.Config{
		Auth: auth, Registry: reg, MaxBodyBytes: g.maxBodyBytes, SoftwareVersion: version,
		OAuthURIs: func(*http.Request) map[string]string { return issuerDoc.oauthURIs(ctx) },
		Audit:     audit.Log{Logger: logger.With("component", "audit")},
		SecurityDescription: func(*http.Request) string {
			return "SMART on FHIR gateway: access tokens of " + g.issuer + " for " + g.audience
		},
	}, up, logger.With("component", "fhir"))
	mux := http.NewServeMux()
	fhirSrv.Register(mux)
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", issuerDoc.serve)
	server.RegisterOps(mux, up, metrics, server.MetricsAccess{Allow: g.metricsNets}, logger)
	var h http.Handler = mux
	if g.secure {
		h, err = gatewayCertificates(g, logger, h)
		if err != nil {
			return nil, err
		}
	}
	return server.Wrap(h, logger, metrics, g.maxBodyBytes, g.proxies), nil
}

// gatewayCertificates puts the TLS client certificate in the request's
// context (clientcert), for certificate-bound tokens; with --client-ca a
// certificate that does not chain to it counts as none.
func gatewayCertificates(g *gatewayConfig, logger *slog.Logger, next http.Handler) (http.Handler, error) {
	opts := clientcert.Options{Logger: logger}
	if g.clientCA != "" {
		pool, err := clientcert.LoadCAPool(g.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--client-ca: %w", err)
		}
		opts.CAs = pool
	}
	v := clientcert.NewVerifier(opts)
	if g.clientCA == "" {
		return v.Middleware(next), nil
	}
	return v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := clientcert.From(r.Context()); p != nil && !p.ViaCA {
			r = r.WithContext(clientcert.With(r.Context(), nil))
		}
		next.ServeHTTP(w, r)
	})), nil
}

// issuerDocument is the issuer's SMART configuration, fetched when first
// needed and again after an hour (or a minute after a failure): served at
// the gateway's own /fhir/.well-known/smart-configuration, and its
// endpoints in the CapabilityStatement's oauth-uris.
type issuerDocument struct {
	issuer string
	logger *slog.Logger
	client *http.Client
	mu     sync.Mutex
	doc    []byte
	until  time.Time
}

func (d *issuerDocument) get(ctx context.Context) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Now().Before(d.until) {
		return d.doc
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	doc, err := fetchSMARTConfiguration(ctx, d.client, d.issuer)
	if err != nil {
		d.logger.Warn("gateway: the issuer's smart-configuration", "err", err)
		d.until = time.Now().Add(time.Minute)
		return d.doc
	}
	d.doc, d.until = doc, time.Now().Add(time.Hour)
	return d.doc
}

func fetchSMARTConfiguration(ctx context.Context, client *http.Client, issuer string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(issuer, "/")+"/.well-known/smart-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %v", resp.StatusCode, err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Issuer != issuer {
		return nil, fmt.Errorf("not the smart-configuration of %s", issuer)
	}
	return b, nil
}

func (d *issuerDocument) serve(w http.ResponseWriter, r *http.Request) {
	doc := d.get(r.Context())
	if doc == nil {
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(doc)
}

// oauthURIs are the issuer's endpoints, keyed as fhir.Config.OAuthURIs.
func (d *issuerDocument) oauthURIs(ctx context.Context) map[string]string {
	var doc map[string]any
	if json.Unmarshal(d.get(ctx), &doc) != nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range map[string]string{"authorize": "authorization_endpoint", "token": "token_endpoint",
		"register": "registration_endpoint", "manage": "management_endpoint", "introspect": "introspection_endpoint",
		"revoke": "revocation_endpoint"} {
		if s, ok := doc[v].(string); ok && s != "" {
			out[k] = s
		}
	}
	return out
}
