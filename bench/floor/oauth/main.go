// Command oauth is the OAuth floor server for smartgate's benchmarks: bare
// fosite v0.49.0 (client_credentials and introspection factories over
// fosite's storage.MemoryStore) with the same token format and client
// authentication as smartgate: ES256-signed JWT access tokens and
// client_secret_basic with a SHA-256-hashed high-entropy secret compared in
// constant time. It serves POST /oauth/token, POST /oauth/introspect and
// GET /healthz on a loopback address.
//
// fosite's MemoryStore keeps every access token forever; this program bounds
// it by revoking the oldest token once -max-tokens are stored (boundedStore).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "floor/oauth:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr      = flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
		clientID  = flag.String("client-id", "bench", "the one registered client")
		secretEnv = flag.String("client-secret-env", "BENCH_CLIENT_SECRET", "environment variable holding the client secret")
		scopes    = flag.String("scopes", "system/*.rs", "space-separated scopes the client may request")
		maxTokens = flag.Int("max-tokens", 20000, "access tokens kept in memory; the oldest is revoked beyond this")
		ttl       = flag.Duration("access-token-ttl", time.Hour, "access token lifetime")
		stateless = flag.Bool("stateless-introspection", false, "validate JWTs without a store lookup (revocation not honoured)")
	)
	flag.Parse()
	secret := os.Getenv(*secretEnv)
	if len(secret) < 32 {
		return fmt.Errorf("$%s must hold a high-entropy client secret (at least 32 characters)", *secretEnv)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: loopback only", *addr)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	h, err := newServer(*clientID, secret, strings.Fields(*scopes), *maxTokens, *ttl, *stateless, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sha256Hasher is smartgate's client-secret check: the stored hash is
// SHA-256 of a high-entropy secret, compared in constant time. (A slow KDF
// adds nothing for a 256-bit random secret.)
type sha256Hasher struct{}

func (sha256Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	s := sha256.Sum256(data)
	return s[:], nil
}

func (sha256Hasher) Compare(_ context.Context, hash, data []byte) error {
	s := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(hash, s[:]) != 1 {
		return errors.New("client secret mismatch")
	}
	return nil
}

var _ fosite.Hasher = sha256Hasher{}

// boundedStore is fosite's MemoryStore holding at most len(ring) access
// tokens. MemoryStore never forgets a token: it keeps two maps (signature ->
// request, request id -> signature) and RevokeAccessToken empties only the
// first. So each new token takes the next of a fixed ring of request ids
// ("slot-N"), whose previous token is revoked first: both maps stay at most
// len(ring) entries. The request id only names the grant inside the store;
// it is not part of the JWT (whose jti fosite generates separately).
type boundedStore struct {
	*storage.MemoryStore
	mu   sync.Mutex
	ring []string
	next int
}

func newBoundedStore(max int) *boundedStore {
	ring := make([]string, max)
	for i := range ring {
		ring[i] = "slot-" + strconv.Itoa(i)
	}
	return &boundedStore{MemoryStore: storage.NewMemoryStore(), ring: ring}
}

func (s *boundedStore) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.ring[s.next]
	s.next = (s.next + 1) % len(s.ring)
	if err := s.MemoryStore.RevokeAccessToken(ctx, id); err != nil {
		return err
	}
	req.SetID(id)
	return s.MemoryStore.CreateAccessTokenSession(ctx, signature, req)
}

type server struct {
	provider fosite.OAuth2Provider
	store    *boundedStore
	handler  http.Handler
	logger   *slog.Logger
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func newServer(clientID, secret string, scopes []string, maxTokens int, ttl time.Duration, stateless bool, logger *slog.Logger) (*server, error) {
	if maxTokens < 1 {
		return nil, errors.New("-max-tokens must be positive")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ES256 key: %w", err)
	}
	globalSecret := make([]byte, 32)
	if _, err := rand.Read(globalSecret); err != nil {
		return nil, err
	}
	issuer := "http://127.0.0.1/floor"
	cfg := &fosite.Config{
		AccessTokenLifespan: ttl,
		AccessTokenIssuer:   issuer,
		TokenURL:            issuer + "/oauth/token",
		GlobalSecret:        globalSecret,
		ClientSecretsHasher: sha256Hasher{},
		ScopeStrategy:       fosite.ExactScopeStrategy,
	}
	store := newBoundedStore(maxTokens)
	hashed, _ := sha256Hasher{}.Hash(context.Background(), []byte(secret))
	store.Clients[clientID] = &fosite.DefaultClient{
		ID:         clientID,
		Secret:     hashed,
		GrantTypes: []string{"client_credentials"},
		Scopes:     scopes,
	}
	keyGetter := func(context.Context) (any, error) { return key, nil }
	strategy := &compose.CommonStrategy{
		CoreStrategy: compose.NewOAuth2JWTStrategy(keyGetter, compose.NewOAuth2HMACStrategy(cfg), cfg),
		Signer:       &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	introspection := compose.OAuth2TokenIntrospectionFactory
	if stateless {
		introspection = compose.OAuth2StatelessJWTIntrospectionFactory
	}
	p := compose.Compose(cfg, store, strategy, compose.OAuth2ClientCredentialsGrantFactory, introspection)

	s := &server{provider: p, store: store, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("POST /oauth/introspect", s.introspect)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.handler = limitBody(mux, 64<<10)
	return s, nil
}

func limitBody(h http.Handler, n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h.ServeHTTP(w, r)
	})
}

func newSession() *oauth2.JWTSession {
	return &oauth2.JWTSession{
		JWTClaims: &jwt.JWTClaims{},
		JWTHeader: &jwt.Headers{Extra: map[string]any{"typ": "at+jwt"}},
	}
}

func (s *server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := newSession()
	ar, err := s.provider.NewAccessRequest(ctx, r, sess)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	sess.JWTClaims.Subject = ar.GetClient().GetID()
	sess.Subject = ar.GetClient().GetID()
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

func (s *server) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ir, err := s.provider.NewIntrospectionRequest(ctx, r, newSession())
	if err != nil {
		s.provider.WriteIntrospectionError(ctx, w, err)
		return
	}
	s.provider.WriteIntrospectionResponse(ctx, w, ir)
}
