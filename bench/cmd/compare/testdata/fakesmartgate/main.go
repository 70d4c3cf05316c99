// Command fakesmartgate stands in for smartgate to check compare's own
// plumbing before the real CLI exists. It implements exactly the commands
// bench/cmd/compare/smartgate.go expects, with trivial behaviour (opaque
// random tokens, an in-memory map of resources). It is NOT a floor and its
// numbers mean nothing. It lives under testdata so that go build ./... and
// go vet ./... ignore it. Use:
//
//	go build -o /tmp/fakesg ./bench/cmd/compare/testdata/fakesmartgate
//	BENCH_SMARTGATE_BIN=/tmp/fakesg BENCH_DURATION=1s BENCH_REPS=1 bench/run.sh
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fakesmartgate:", err)
		os.Exit(1)
	}
}

func dataDir() string { return os.Getenv("SMARTGATE_DATA") }

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command")
	}
	switch {
	case len(args) >= 2 && args[0] == "client" && args[1] == "add":
		fs := flag.NewFlagSet("client add", flag.ContinueOnError)
		id := fs.String("id", "", "")
		stdin := fs.Bool("secret-stdin", false, "")
		fs.String("grant-types", "", "")
		fs.String("scope", "", "")
		fs.Bool("introspect-all", false, "")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if *id == "" || !*stdin {
			return fmt.Errorf("client add: --id and --secret-stdin required")
		}
		return saveStdin("client-" + *id)
	case len(args) >= 2 && args[0] == "user" && args[1] == "add":
		fs := flag.NewFlagSet("user add", flag.ContinueOnError)
		name := fs.String("username", "", "")
		fs.Bool("password-stdin", false, "")
		fs.String("role", "", "")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		return saveStdin("user-" + *name)
	case len(args) >= 2 && args[0] == "fhir" && args[1] == "import":
		var all []json.RawMessage
		for _, f := range args[2:] {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			var bu struct {
				Entry []struct {
					Resource json.RawMessage `json:"resource"`
				} `json:"entry"`
			}
			if err := json.Unmarshal(b, &bu); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			for _, e := range bu.Entry {
				all = append(all, e.Resource)
			}
		}
		b, _ := json.Marshal(all)
		return os.WriteFile(filepath.Join(dataDir(), "resources.json"), b, 0o600)
	case args[0] == "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.String("data", "", "")
		addr := fs.String("http-addr", "", "")
		fs.String("https-addr", "", "")
		fs.String("http-url", "", "")
		fs.String("log-level", "", "")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return serve(*addr)
	}
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func saveStdin(name string) error {
	b, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dataDir(), name), []byte(strings.TrimSpace(string(b))), 0o600)
}

func serve(addr string) error {
	secret, err := os.ReadFile(filepath.Join(dataDir(), "client-bench"))
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(dataDir(), "resources.json"))
	if err != nil {
		return err
	}
	var all []json.RawMessage
	json.Unmarshal(raw, &all)
	byKey := map[string][]byte{}
	for _, r := range all {
		var h struct{ ResourceType, ID string }
		json.Unmarshal(r, &h)
		byKey[h.ResourceType+"/"+h.ID] = r
	}
	var mu sync.Mutex
	tokens := map[string]bool{}
	issue := func(w http.ResponseWriter) {
		b := make([]byte, 24)
		rand.Read(b)
		t := base64.RawURLEncoding.EncodeToString(b)
		mu.Lock()
		tokens[t] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":3600}`, t)
	}
	clientOK := func(r *http.Request) bool {
		id, pw, ok := r.BasicAuth()
		return ok && id == "bench" && pw == string(secret)
	}
	active := func(t string) bool { mu.Lock(); defer mu.Unlock(); return tokens[t] }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("grant_type") == "password" || clientOK(r) {
			issue(w)
			return
		}
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
	})
	mux.HandleFunc("POST /oauth/introspect", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if !clientOK(r) {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"active":%v}`, active(r.PostForm.Get("token")))
	})
	mux.HandleFunc("GET /fhir/{type}", func(w http.ResponseWriter, r *http.Request) {
		if !active(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[]}`))
	})
	mux.HandleFunc("GET /fhir/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !active(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, ok := byKey[r.PathValue("type")+"/"+r.PathValue("id")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	return http.ListenAndServe(addr, mux)
}
