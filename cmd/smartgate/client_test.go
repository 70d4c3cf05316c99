package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store/sqlite"
)

// runInProcess runs a command with SMARTGATE_DATA=data and the given stdin.
func runInProcess(t *testing.T, data, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(k string) string {
		if k == "SMARTGATE_DATA" {
			return data
		}
		return ""
	}}
	code := run(context.Background(), e, args)
	return out.String(), errOut.String(), code
}

func openData(t *testing.T, data string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dbPath(data), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var clientIDLine = regexp.MustCompile(`(?m)^client_id: (\S+)$`)
var secretLine = regexp.MustCompile(`(?m)^client_secret: (\S+)$`)

// TestClientAddBench is the exact invocation the benchmark harness uses: a
// fixed id, a provided secret and client_credentials with a secret (allowed
// from the CLI only).
func TestClientAddBench(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	secret := strings.Repeat("s3cr3t-", 6)
	out, errOut, code := runInProcess(t, data, secret+"\n", "client", "add", "--id", "bench", "--secret-stdin",
		"--grant-types", "client_credentials", "--scope", "system/*.rs")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if m := clientIDLine.FindStringSubmatch(out); m == nil || m[1] != "bench" {
		t.Fatalf("output %q lacks client_id: bench", out)
	}
	if strings.Contains(out, secret) {
		t.Error("a provided secret was echoed")
	}
	c, err := openData(t, data).GetClient(context.Background(), "bench")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(secret))
	if !bytes.Equal(c.SecretHash, h[:]) || c.TokenEndpointAuthMethod != authz.AuthClientSecretBasic ||
		!slices.Equal(c.GrantTypes, []string{"client_credentials"}) || !slices.Equal(c.Scopes, []string{"system/*.rs"}) {
		t.Fatalf("stored %+v", c)
	}
	// The id exists now: refused.
	_, errOut, code = runInProcess(t, data, secret+"\n", "client", "add", "--id", "bench", "--secret-stdin",
		"--grant-types", "client_credentials", "--scope", "system/*.rs")
	if code == 0 || !strings.Contains(errOut, "exists already") {
		t.Fatalf("duplicate id: %d %s", code, errOut)
	}
}

func TestClientAddGeneratesAndValidates(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, errOut, code := runInProcess(t, data, "", "client", "add", "--name", "Chart viewer",
		"--redirect-uri", "https://app.example/cb", "--redirect-uri", "https://app.example/cb2",
		"--scope", "openid launch patient/*.rs", "--launch-uri", "https://app.example/launch")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	id, sec := clientIDLine.FindStringSubmatch(out), secretLine.FindStringSubmatch(out)
	if id == nil || sec == nil || len(sec[1]) < 43 {
		t.Fatalf("output %q: want a client id and a generated 256-bit secret", out)
	}
	c, err := openData(t, data).GetClient(context.Background(), id[1])
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(sec[1]))
	if !bytes.Equal(c.SecretHash, h[:]) || c.LaunchURI != "https://app.example/launch" || len(c.RedirectURIs) != 2 || c.Name != "Chart viewer" {
		t.Fatalf("stored %+v", c)
	}

	out, _, code = runInProcess(t, data, "", "client", "add", "--public", "--redirect-uri", "http://127.0.0.1:9000/cb")
	if code != 0 || secretLine.MatchString(out) {
		t.Fatalf("public client: %d %s", code, out)
	}

	keys := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(keys, []byte(`{"keys":[{"kty":"EC","kid":"k1","crv":"P-384","d":"secret",`+
		`"x":"AAAA","y":"AAAA"}]}`), 0o600)
	for name, args := range map[string][]string{
		"short secret":         {"--id", "x1", "--secret-stdin", "--redirect-uri", "https://a.example/cb"},
		"bad redirect":         {"--redirect-uri", "http://evil.example/cb"},
		"public with secret":   {"--public", "--auth-method", "client_secret_basic", "--redirect-uri", "https://a.example/cb"},
		"private key in jwks":  {"--grant-types", "client_credentials", "--jwks-file", keys},
		"public backend":       {"--public", "--grant-types", "client_credentials"},
		"secret for keys":      {"--auth-method", "private_key_jwt", "--jwks-uri", "https://keys.example/jwks", "--secret-stdin", "--grant-types", "client_credentials"},
		"id with a slash":      {"--id", "a/b", "--redirect-uri", "https://a.example/cb"},
		"unknown grant":        {"--grant-types", "password"},
		"password on cmd line": {"--secret", "x"},
	} {
		out, errOut, code := runInProcess(t, data, "short\n", append([]string{"client", "add"}, args...)...)
		if code != 2 {
			t.Errorf("%s: exit %d (want 2): %s %s", name, code, out, errOut)
		}
	}
}
