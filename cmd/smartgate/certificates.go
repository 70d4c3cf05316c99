package main

// The allow-list of trusted client certificates (issue 13): the
// /admin/certificates page as newApp mounts it, and `smartgate cert
// add|list|remove`. Both read a certificate with clientcert.ParseTrusted.

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/certauth"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/web/certificates"
)

// newCertificatesPage is /admin/certificates over the store, showing the
// configuration's certificate settings.
func newCertificatesPage(cfg *config.Config, db database, pages certificates.Pages, assets fs.FS, rec audit.Recorder, logger *slog.Logger) (*certificates.Server, error) {
	c := certificates.Config{Pages: pages, Store: db, Anonymous: certauth.NewAnonymous(db), Assets: assets, Audit: rec, Logger: logger,
		Policy: cfg.CertPolicy(), HTTPS: cfg.HTTPSAddr != "", ClientCA: cfg.ClientCA, CertHeader: cfg.ClientCertHeader,
		UserName: func(ctx context.Context, id string) string {
			if u, err := db.User(ctx, id); err == nil {
				return u.UserName
			}
			return ""
		}}
	if cfg.ClientCA != "" {
		subjects, err := caSubjects(cfg.ClientCA)
		if err != nil {
			return nil, err
		}
		c.ClientCASubjects = subjects
	}
	for _, p := range cfg.TrustedProxies {
		c.TrustedProxies = append(c.TrustedProxies, p.String())
	}
	for _, ti := range cfg.TrustedJWTIssuers {
		c.TrustedJWTIssuers = append(c.TrustedJWTIssuers, ti.Issuer)
	}
	return certificates.New(c)
}

// caSubjects are the subjects of the certificates in a PEM bundle.
func caSubjects(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("client CA bundle: %w", err)
	}
	var out []string
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, c.Subject.String())
		}
	}
	return out, nil
}

const certUsage = "usage: smartgate cert add --file FILE [--note TEXT] | cert list | cert remove --fingerprint HEX"

// runCert is `smartgate cert`: the allow-list of trusted client
// certificates without a browser. Changes are recorded in the audit log;
// a running server sees them at the next request (the Verifier asks the
// store).
func runCert(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{errors.New(certUsage)}
	}
	sub := args[0]
	fs := flag.NewFlagSet("cert "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var file, note, fingerprint *string
	switch sub {
	case "add":
		file = fs.String("file", "", "the client's certificate, PEM (one certificate; - reads standard input)")
		note = fs.String("note", "", "a note shown on the page (whose it is, a ticket)")
	case "remove":
		fingerprint = fs.String("fingerprint", "", "the certificate's SHA-256 fingerprint, hex (colons allowed)")
	case "list":
	default:
		return usageError{errors.New(certUsage)}
	}
	cfg, err := loadWithFlags(e, "cert "+sub, fs, args[1:])
	if err != nil {
		return err
	}
	var tc *clientcert.TrustedCertificate
	var fp string
	switch sub {
	case "add":
		if *file == "" {
			return usageError{errors.New("cert add needs --file")}
		}
		text, err := readCertFile(e, *file)
		if err != nil {
			return err
		}
		if tc, err = clientcert.ParseTrusted(text, *note, "", time.Now()); err != nil {
			return usageError{err}
		}
	case "remove":
		if fp, err = clientcert.ParseFingerprint(*fingerprint); err != nil {
			return usageError{fmt.Errorf("--fingerprint: %w", err)}
		}
	}

	db, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "add":
		return certAdd(ctx, e, db, tc)
	case "remove":
		return certRemove(ctx, e, db, fp)
	}
	return certList(ctx, e, db)
}

// maxCertFile bounds what cert add reads.
const maxCertFile = clientcert.MaxPEMLength

func readCertFile(e *env, file string) (string, error) {
	var r io.Reader
	if file == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return "", usageError{fmt.Errorf("--file: %w", err)}
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCertFile+1))
	if err != nil {
		return "", fmt.Errorf("--file: %w", err)
	}
	return string(b), nil
}

func certAdd(ctx context.Context, e *env, db database, tc *clientcert.TrustedCertificate) error {
	err := db.AddTrustedCertificate(ctx, tc)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("the certificate %s (%s) is on the allow-list already", clientcert.GroupFingerprint(tc.Fingerprint), printable(tc.Subject))
	} else if err != nil {
		return err
	}
	if err := db.InsertAudit(ctx, []audit.Event{{At: time.Now(), Kind: "certificate", Action: "add",
		Resource: "TrustedCertificate/" + tc.Fingerprint, Outcome: audit.Success, Detail: "command line: " + tc.Subject}}); err != nil {
		return fmt.Errorf("the certificate was added, but the audit record failed: %w", err)
	}
	fmt.Fprintf(e.stdout, "added: %s\nsubject: %s\nfingerprint: %s\n", tc.Fingerprint, printable(tc.Subject), clientcert.GroupFingerprint(tc.Fingerprint))
	for _, w := range tc.Warnings(time.Now()) {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	return nil
}

func certRemove(ctx context.Context, e *env, db database, fp string) error {
	tc, err := db.TrustedCertificate(ctx, fp)
	if err == nil {
		err = db.RemoveTrustedCertificate(ctx, fp)
	}
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s is not on the allow-list", clientcert.GroupFingerprint(fp))
	} else if err != nil {
		return err
	}
	if err := db.InsertAudit(ctx, []audit.Event{{At: time.Now(), Kind: "certificate", Action: "remove",
		Resource: "TrustedCertificate/" + fp, Outcome: audit.Success, Detail: "command line: " + tc.Subject}}); err != nil {
		return fmt.Errorf("the certificate was removed, but the audit record failed: %w", err)
	}
	fmt.Fprintf(e.stdout, "removed: %s (%s)\n", fp, printable(tc.Subject))
	return nil
}

func certList(ctx context.Context, e *env, db database) error {
	list, err := db.TrustedCertificates(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tSUBJECT\tNOT AFTER\tNOTE")
	for _, c := range list {
		until := c.NotAfter.UTC().Format(time.DateOnly)
		if now.After(c.NotAfter) {
			until += " (expired)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Fingerprint, printable(c.Subject), until, printable(c.Note))
	}
	return tw.Flush()
}

// printable replaces control characters (a certificate's subject is the
// certificate maker's text) so that they cannot drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
