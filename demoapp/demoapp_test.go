package demoapp

import (
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/smartgate/smartgate"
)

var update = flag.Bool("update", false, "rewrite golden files")

func staticFS(t *testing.T) fs.FS {
	t.Helper()
	static, err := fs.Sub(smartgate.Assets(""), "static")
	if err != nil {
		t.Fatal(err)
	}
	return static
}

func newServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	h, err := New(staticFS(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestServe(t *testing.T) {
	srv := newServer(t, Config{ClientID: "demo-1"})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		method, path string
		status       int // 3: any redirect
		contentType  string
		body         string // substring
		location     string
		csp          bool
	}{
		{"GET", "/apps/demo/", 200, "text/html; charset=utf-8", `<script src="app.js" defer></script>`, "", true},
		{"GET", "/apps/demo/launch.html", 200, "text/html; charset=utf-8", `<script src="launch.js" defer></script>`, "", true},
		{"GET", "/apps/demo/launch.js", 200, "text/javascript; charset=utf-8", "FHIR.oauth2.authorize", "", true},
		{"GET", "/apps/demo/app.js", 200, "text/javascript; charset=utf-8", "FHIR.oauth2.ready", "", true},
		{"GET", "/apps/demo/demo.css", 200, "text/css; charset=utf-8", "--highlight", "", true},
		{"GET", "/apps/demo/config.json", 200, "application/json", `{"clientId":"demo-1","scope":"` + DefaultScope + `"}`, "", true},
		{"HEAD", "/apps/demo/launch.html", 200, "text/html; charset=utf-8", "", "", true},
		{"GET", "/apps/demo/missing.js", 404, "text/plain; charset=utf-8", "404 page not found", "", true},
		{"GET", "/apps/demo/index.html", 301, "", "", "./", true},
		{"GET", "/apps/demo", 3, "", "", "/apps/demo/", false}, // any redirect
		{"POST", "/apps/demo/config.json", 405, "text/plain; charset=utf-8", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status && !(tc.status == 3 && resp.StatusCode/100 == 3) {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.contentType)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body lacks %q:\n%s", tc.body, body)
			}
			if tc.location != "" && resp.Header.Get("Location") != tc.location {
				t.Errorf("Location %q, want %q", resp.Header.Get("Location"), tc.location)
			}
			if got := resp.Header.Get("Content-Security-Policy"); tc.csp && got != contentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", got)
			}
			if tc.csp && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want map[string]string
	}{
		{"defaults", Config{}, map[string]string{"clientId": DefaultClientID, "scope": DefaultScope}},
		{"given", Config{ClientID: "abc", Scope: "openid patient/*.rs"}, map[string]string{"clientId": "abc", "scope": "openid patient/*.rs"}},
		{"escaped", Config{ClientID: `a"</script>`}, map[string]string{"clientId": `a"</script>`, "scope": DefaultScope}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(newServer(t, tc.cfg).URL + "/apps/demo/config.json")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			var got map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) || got["clientId"] != tc.want["clientId"] || got["scope"] != tc.want["scope"] {
				t.Errorf("config.json %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		static fs.FS
		cfg    Config
	}{
		{"no app files", fstest.MapFS{"style.css": {Data: []byte("")}}, Config{}},
		{"no index.html", fstest.MapFS{"apps/demo/launch.html": {Data: []byte("")}}, Config{}},
		{"client id with space", staticFS(t), Config{ClientID: "a b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.static, tc.cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

// The server sends a strict CSP, and server data must never become markup:
// the pages have no inline script, style or event handler, and the scripts
// build the DOM with textContent only.
func TestNoInlineCodeNoHTMLSinks(t *testing.T) {
	app, err := fs.Sub(staticFS(t), "apps/demo")
	if err != nil {
		t.Fatal(err)
	}
	script := regexp.MustCompile(`(?s)<script\b([^>]*)>(.*?)</script>`)
	inlineAttr := regexp.MustCompile(`(?i)\s(on[a-z]+|style)\s*=`)
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*['"]`)
	err = fs.WalkDir(app, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(app, path)
		if err != nil {
			return err
		}
		src := string(b)
		switch filepath.Ext(path) {
		case ".html":
			for _, m := range script.FindAllStringSubmatch(src, -1) {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("%s: inline script %q", path, m[0])
				}
			}
			if m := inlineAttr.FindString(src); m != "" {
				t.Errorf("%s: inline attribute %q", path, m)
			}
			if strings.Contains(src, "<style") {
				t.Errorf("%s: inline <style>", path)
			}
		case ".js":
			if m := sinks.FindString(src); m != "" {
				t.Errorf("%s: uses %q", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// launch.js falls back to the same default scope as config.json carries.
func TestLaunchPageDefaultScope(t *testing.T) {
	b, err := fs.ReadFile(staticFS(t), "apps/demo/launch.js")
	if err != nil {
		t.Fatal(err)
	}
	stmt := regexp.MustCompile(`(?s)var DEFAULT_SCOPE = (.*?);`).FindSubmatch(b)
	if stmt == nil {
		t.Fatal("launch.js has no DEFAULT_SCOPE")
	}
	var got strings.Builder
	for _, lit := range regexp.MustCompile(`'([^']*)'`).FindAllSubmatch(stmt[1], -1) {
		got.Write(lit[1])
	}
	if got.String() != DefaultScope {
		t.Errorf("launch.js DEFAULT_SCOPE %q, want %q", got.String(), DefaultScope)
	}
}

func TestClient(t *testing.T) {
	md, err := Client("", "https://localhost:8443/", "", "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "client.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got)+"\n" != string(want) {
		t.Errorf("client metadata:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Client("x"); err == nil {
		t.Error("Client without base URLs succeeded")
	}
	if _, err := Client("x", "", ""); err == nil {
		t.Error("Client with only empty base URLs succeeded")
	}
}

func TestURLs(t *testing.T) {
	tests := []struct{ base, launch, redirect string }{
		{"http://localhost:8080", "http://localhost:8080/apps/demo/launch.html", "http://localhost:8080/apps/demo/"},
		{"https://h.example/sg/", "https://h.example/sg/apps/demo/launch.html", "https://h.example/sg/apps/demo/"},
	}
	for _, tc := range tests {
		if got := LaunchURL(tc.base); got != tc.launch {
			t.Errorf("LaunchURL(%q) = %q, want %q", tc.base, got, tc.launch)
		}
		if got := RedirectURI(tc.base); got != tc.redirect {
			t.Errorf("RedirectURI(%q) = %q, want %q", tc.base, got, tc.redirect)
		}
	}
}
