package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/store"
)

const clientUsage = "usage: smartgate client add [--name NAME] [--redirect-uri URI]... [--scope SCOPES] [--grant-types a,b]\n" +
	"  [--auth-method none|client_secret_basic|client_secret_post|private_key_jwt|tls_client_auth|self_signed_tls_client_auth]\n" +
	"  [--jwks-file FILE | --jwks-uri URI] [--tls-subject-dn DN | --tls-san-dns NAME | --tls-san-uri URI | --tls-san-ip IP | --tls-san-email ADDR]\n" +
	"  [--cert-bound-tokens] [--launch-uri URI] [--public] [--id ID] [--secret-stdin] [--introspect-all]"

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// runClient is `smartgate client add`: an administrator registers a client
// without a browser. The metadata is validated with registration.Validate
// under the administrator's policy (which lets client_credentials use a
// client secret, as the admin pages do), and a symmetric backend registered
// here may use its system/ scopes (authz.Client.AllowSystemScopes; on the
// pages an administrator ticks that separately): load tests and legacy
// backends run by the same administrator need a shared secret, and whoever
// runs this command has the database anyway.
func runClient(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{errors.New(clientUsage)}
	}
	fs := flag.NewFlagSet("client add", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	name := fs.String("name", "", "client_name shown to people")
	var redirects listFlag
	fs.Var(&redirects, "redirect-uri", "a redirect URI (repeat for several)")
	scope := fs.String("scope", "", "space-separated scope ceiling (default: by grant type)")
	grants := fs.String("grant-types", "", "comma-separated grant types (default authorization_code)")
	method := fs.String("auth-method", "", "token_endpoint_auth_method: none, client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or self_signed_tls_client_auth (default client_secret_basic, private_key_jwt with keys, tls_client_auth with a --tls-* subject)")
	var tlsAuth registration.Metadata
	fs.StringVar(&tlsAuth.TLSClientAuthSubjectDN, "tls-subject-dn", "", "tls_client_auth: the certificate's subject DN (RFC 4514, e.g. CN=app,O=Example)")
	fs.StringVar(&tlsAuth.TLSClientAuthSANDNS, "tls-san-dns", "", "tls_client_auth: a dNSName SAN of the certificate")
	fs.StringVar(&tlsAuth.TLSClientAuthSANURI, "tls-san-uri", "", "tls_client_auth: a URI SAN of the certificate")
	fs.StringVar(&tlsAuth.TLSClientAuthSANIP, "tls-san-ip", "", "tls_client_auth: an IP address SAN of the certificate")
	fs.StringVar(&tlsAuth.TLSClientAuthSANEmail, "tls-san-email", "", "tls_client_auth: an e-mail address (rfc822Name) SAN of the certificate")
	certBound := fs.Bool("cert-bound-tokens", false, "bind the client's access tokens to its TLS client certificate (RFC 8705 tls_client_certificate_bound_access_tokens)")
	jwksFile := fs.String("jwks-file", "", "file holding the client's public JWK Set")
	jwksURI := fs.String("jwks-uri", "", "URL of the client's public JWK Set")
	launchURI := fs.String("launch-uri", "", "SMART EHR launch URL")
	public := fs.Bool("public", false, "a public client (token_endpoint_auth_method none)")
	id := fs.String("id", "", "a fixed client id (scripts, benchmarks); refused if it exists")
	introspectAll := fs.Bool("introspect-all", false, "a resource server that may introspect tokens of every client (RFC 7662 §4); without it a client introspects only its own")
	allowLaunch := fs.Bool("allow-launch-create", false, "let the client be granted launch:create (put it in --scope) and create EHR launches through POST /api/launch")
	secretStdin := fs.Bool("secret-stdin", false, fmt.Sprintf("read the client secret (at least %d characters) from the first line of standard input instead of generating one", authz.MinSecretLength))
	cfg, err := loadWithFlags(e, "client add", fs, args[1:])
	if err != nil {
		return err
	}

	m := tlsAuth
	m.ClientName, m.RedirectURIs, m.Scope = *name, redirects, *scope
	m.TokenEndpointAuthMethod, m.JWKSURI, m.LaunchURI = *method, *jwksURI, *launchURI
	m.TLSClientCertificateBoundAccessTokens = *certBound
	if *grants != "" {
		for g := range strings.SplitSeq(*grants, ",") {
			if g = strings.TrimSpace(g); g != "" {
				m.GrantTypes = append(m.GrantTypes, g)
			}
		}
	}
	if *public {
		if *method != "" && *method != authz.AuthNone {
			return usageError{fmt.Errorf("--public conflicts with --auth-method %s", *method)}
		}
		m.TokenEndpointAuthMethod = authz.AuthNone
	}
	if *jwksFile != "" {
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			return usageError{fmt.Errorf("--jwks-file: %w", err)}
		}
		m.JWKS = b
	}
	out, err := registration.Validate(m, authz.AdminPolicy(m))
	if err != nil {
		var re *registration.Error
		if errors.As(err, &re) {
			return usageError{fmt.Errorf("%s: %s", re.Code, re.Description)}
		}
		return usageError{err}
	}
	var secret string
	if *secretStdin {
		if !authz.UsesSecret(out.TokenEndpointAuthMethod) {
			return usageError{fmt.Errorf("--secret-stdin needs a secret method, not %s", out.TokenEndpointAuthMethod)}
		}
		if secret, err = readSecretLine(e.stdin); err != nil {
			return fmt.Errorf("reading the secret: %w", err)
		}
		if len(secret) < authz.MinSecretLength {
			return usageError{fmt.Errorf("the secret must have at least %d characters", authz.MinSecretLength)}
		}
	}
	nc := authz.NewClientFrom(out)
	nc.ID, nc.Secret, nc.Policy, nc.IntrospectAll = *id, secret, authz.PolicyAdmin, *introspectAll
	// The operator asked for this client: a symmetric backend made here
	// may use its system/ scopes, as it always could from the CLI.
	nc.AllowSystemScopes = authz.UsesSecret(out.TokenEndpointAuthMethod) && slices.Contains(out.GrantTypes, registration.GrantClientCredentials)
	nc.AllowLaunchCreate = *allowLaunch
	if *allowLaunch && !slices.Contains(strings.Fields(out.Scope), authz.ScopeLaunchCreate) {
		return usageError{errors.New("--allow-launch-create needs launch:create in --scope")}
	}
	if *introspectAll && out.TokenEndpointAuthMethod == authz.AuthNone {
		return usageError{errors.New("--introspect-all needs a confidential client: a public one cannot call introspection")}
	}

	db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer db.Close()
	c, issued, err := authz.CreateClient(ctx, db, nc, time.Now())
	switch {
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("a client with id %q exists already", *id)
	case errors.Is(err, authz.ErrInvalidClientMetadata):
		return usageError{err}
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "client_id: %s\n", c.ID)
	fmt.Fprintf(e.stdout, "token_endpoint_auth_method: %s\nscope: %s\n", c.TokenEndpointAuthMethod, strings.Join(c.Scopes, " "))
	for _, f := range []struct{ name, v string }{
		{registration.FieldTLSSubjectDN, c.TLSClientAuth.SubjectDN}, {registration.FieldTLSSANDNS, c.TLSClientAuth.SANDNS},
		{registration.FieldTLSSANURI, c.TLSClientAuth.SANURI}, {registration.FieldTLSSANIP, c.TLSClientAuth.SANIP},
		{registration.FieldTLSSANEmail, c.TLSClientAuth.SANEmail},
	} {
		if f.v != "" {
			fmt.Fprintf(e.stdout, "%s: %s\n", f.name, f.v)
		}
	}
	if c.CertBoundAccessTokens {
		fmt.Fprintln(e.stdout, "tls_client_certificate_bound_access_tokens: true")
	}
	if c.IntrospectAll {
		fmt.Fprintln(e.stdout, "introspect_all: true")
	}
	if issued != "" && secret == "" {
		fmt.Fprintf(e.stdout, "client_secret: %s\n(the secret is shown only this once; only its hash is stored)\n", issued)
	}
	return nil
}
