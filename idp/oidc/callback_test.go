package oidc

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/idp"
)

type callbackCase struct {
	name  string
	setup func(t *testing.T, p *provider, c *Config) // before Open
	state func(st *idp.State)                        // before the callback
	query func(q url.Values)                         // the callback's query
	// replay: the callback runs once (and must work) before the one
	// checked.
	replay bool
	want   error  // nil: the log-in works
	msg    string // in the error's text
	check  func(t *testing.T, p *provider, id idp.Identity)
}

func TestHandleCallback(t *testing.T) {
	for _, tc := range callbackCases() {
		t.Run(tc.name, func(t *testing.T) { runCallback(t, tc) })
	}
}

func runCallback(t *testing.T, tc callbackCase) {
	clk := newClock()
	p := newProvider(t, clk)
	c := p.config()
	if tc.setup != nil {
		tc.setup(t, p, c)
	}
	conn := open(t, c)
	st, q := authorize(t, conn)
	if tc.query != nil {
		tc.query(q)
	}
	if tc.state != nil {
		tc.state(&st)
	}
	ctx := context.Background()
	if tc.replay {
		if _, err := conn.HandleCallback(ctx, st, q); err != nil {
			t.Fatalf("first callback: %v", err)
		}
	}
	id, err := conn.HandleCallback(ctx, st, q)
	if tc.want == nil {
		if err != nil {
			t.Fatalf("HandleCallback: %v", err)
		}
		// The exchange carried this log-in's PKCE verifier and
		// redirect_uri (the provider refuses otherwise).
		p.mu.Lock()
		form := p.checked
		p.mu.Unlock()
		if form.Get("code_verifier") != st.Verifier || form.Get("redirect_uri") != st.RedirectURI {
			t.Errorf("exchange sent verifier %q redirect_uri %q", form.Get("code_verifier"), form.Get("redirect_uri"))
		}
		if id.Issuer != p.issuer || id.Subject == "" {
			t.Errorf("identity %+v: issuer/subject", id)
		}
		if tc.check != nil {
			tc.check(t, p, id)
		}
		return
	}
	if !errors.Is(err, tc.want) {
		t.Fatalf("HandleCallback = %+v, %v; want %v", id, err, tc.want)
	}
	if !reflect.DeepEqual(id, idp.Identity{}) {
		t.Errorf("a refused log-in returned identity %+v", id)
	}
	checkMessage(t, p, err, tc.msg)
	if tc.check != nil {
		tc.check(t, p, id)
	}
}

// checkMessage: the error may be shown on a page: it names what failed,
// holds no secret, code or token, no control characters, and is short.
func checkMessage(t *testing.T, p *provider, err error, want string) {
	t.Helper()
	s := err.Error()
	if !strings.Contains(s, want) {
		t.Errorf("error %q does not say %q", s, want)
	}
	if v := p.leaks(s); v != "" {
		t.Errorf("error %q holds the secret or token %q", s, v)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) || len(s) > 600 {
		t.Errorf("error %q: control characters or too long", s)
	}
}

func claims(f func(m map[string]any)) func(t *testing.T, p *provider, c *Config) {
	return func(t *testing.T, p *provider, c *Config) { p.set(func(p *provider) { p.claimsHook = f }) }
}

func user(f func(m map[string]any)) func(t *testing.T, p *provider, c *Config) {
	return func(t *testing.T, p *provider, c *Config) { p.set(func(p *provider) { f(p.user) }) }
}

func tokenAnswer(status int, contentType, body string) func(t *testing.T, p *provider, c *Config) {
	return func(t *testing.T, p *provider, c *Config) {
		p.set(func(p *provider) {
			p.tokenHook = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", contentType)
				w.WriteHeader(status)
				w.Write([]byte(body))
			}
		})
	}
}

func noCalls(endpoint string) func(t *testing.T, p *provider, id idp.Identity) {
	return func(t *testing.T, p *provider, id idp.Identity) {
		if n := p.hitsOf(endpoint); n != 0 {
			t.Errorf("%s called %d times", endpoint, n)
		}
	}
}

func callbackCases() []callbackCase {
	return append(append(append(protocolCases(), tokenCases()...), claimCases()...), domainCases()...)
}

// protocolCases: the authorization response and the code exchange.
func protocolCases() []callbackCase {
	return []callbackCase{
		{name: "happy path ES256, client_secret_basic, no userinfo needed",
			check: func(t *testing.T, p *provider, id idp.Identity) {
				want := idp.Identity{Issuer: p.issuer, Subject: "alice-123", Email: "alice@example.org",
					EmailVerified: true, Name: "Alice Liddell", GivenName: "Alice", FamilyName: "Liddell",
					PreferredUsername: "alice"}
				if !reflect.DeepEqual(id, want) {
					t.Errorf("identity %+v, want %+v", id, want)
				}
				if p.auth != "basic" || p.hitsOf("userinfo") != 0 {
					t.Errorf("auth %s, userinfo calls %d", p.auth, p.hitsOf("userinfo"))
				}
			}},
		{name: "RS256 key",
			setup: func(t *testing.T, p *provider, c *Config) { p.setKeys(rsaKey(t, "r1")) }},
		{name: "EdDSA key",
			setup: func(t *testing.T, p *provider, c *Config) {
				_, priv, _ := ed25519.GenerateKey(rand.Reader)
				p.set(func(p *provider) { p.algs = append(p.algs, "EdDSA") })
				p.setKeys(signKey{kid: "e1", alg: jose.EdDSA, priv: priv})
			}},
		{name: "client_secret_post when the provider supports only that",
			setup: func(t *testing.T, p *provider, c *Config) {
				p.set(func(p *provider) { p.authMethods = []string{"client_secret_post"} })
			},
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if p.auth != "post" {
					t.Errorf("client authenticated by %s", p.auth)
				}
			}},
		{name: "error=access_denied", want: idp.ErrUpstream, msg: "access_denied: The person said no",
			query: func(q url.Values) {
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("error_description", "The person said no\x00\n")
			},
			check: noCalls("token")},
		{name: "error with a description of 10 kB", want: idp.ErrUpstream, msg: "server_error: xxx",
			query: func(q url.Values) {
				q.Del("code")
				q.Set("error", "server_error")
				q.Set("error_description", strings.Repeat("x", 10000))
			}},
		{name: "no code", want: idp.ErrUpstream, msg: "no usable code",
			query: func(q url.Values) { q.Del("code") }},
		{name: "iss right (RFC 9207)",
			setup: func(t *testing.T, p *provider, c *Config) { p.set(func(p *provider) { p.issParam = true }) }},
		{name: "iss wrong: mix-up", want: idp.ErrInvalidToken, msg: `iss "https://evil.example" is not`,
			query: func(q url.Values) { q.Set("iss", "https://evil.example") }, check: noCalls("token")},
		{name: "iss wrong on an error answer", want: idp.ErrInvalidToken, msg: "mix-up",
			query: func(q url.Values) {
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("iss", "https://evil.example")
			}},
		{name: "iss with a trailing slash is another issuer", want: idp.ErrInvalidToken, msg: "mix-up",
			setup: func(t *testing.T, p *provider, c *Config) { p.set(func(p *provider) { p.issParam = true }) },
			query: func(q url.Values) { q.Set("iss", q.Get("iss")+"/") }},
		{name: "iss missing though the provider always sends it", want: idp.ErrInvalidToken, msg: "RFC 9207",
			setup: func(t *testing.T, p *provider, c *Config) { p.set(func(p *provider) { p.issParam = true }) },
			query: func(q url.Values) { q.Del("iss") }, check: noCalls("token")},
		{name: "iss repeated", want: idp.ErrInvalidToken, msg: "repeats iss",
			setup: func(t *testing.T, p *provider, c *Config) { p.set(func(p *provider) { p.issParam = true }) },
			query: func(q url.Values) { q.Add("iss", q.Get("iss")) }},
		{name: "state is another log-in's", want: idp.ErrInvalidToken, msg: "state",
			query: func(q url.Values) { q.Set("state", "another") }, check: noCalls("token")},
		{name: "PKCE verifier is not the challenge's", want: idp.ErrUpstream, msg: "invalid_grant",
			state: func(st *idp.State) { st.Verifier = idp.NewState("").Verifier }},
		{name: "redirect_uri differs from the authorization request's", want: idp.ErrUpstream, msg: "invalid_grant",
			state: func(st *idp.State) { st.RedirectURI = "http://127.0.0.1:9/login/other/callback" }},
		{name: "replayed callback: the code is used", replay: true, want: idp.ErrUpstream, msg: "invalid_grant"},
		{name: "wrong client secret", want: idp.ErrUpstream, msg: "invalid_client",
			setup: func(t *testing.T, p *provider, c *Config) { c.ClientSecret = "not-the-secret" }},
	}
}

// tokenCases: the token response and the id_token's verification.
func tokenCases() []callbackCase {
	return []callbackCase{
		{name: "bad signature", want: idp.ErrInvalidToken, msg: "signature",
			setup: func(t *testing.T, p *provider, c *Config) {
				p.set(func(p *provider) {
					p.idTokenFn = func(claims map[string]any) string {
						parts := strings.Split(sign(t, p.signing, claims), ".")
						sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
						sig[10] ^= 0xff
						return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
					}
				})
			}},
		{name: "signed by a key not in the JWKS with a known kid", want: idp.ErrInvalidToken, msg: `does not verify with key "k1"`,
			setup: func(t *testing.T, p *provider, c *Config) {
				rogue := ecKey(t, "k1")
				p.set(func(p *provider) {
					p.idTokenFn = func(claims map[string]any) string { return sign(t, rogue, claims) }
				})
			},
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if n := p.hitsOf("jwks"); n != 1 {
					t.Errorf("JWKS fetched %d times, want 1 (no refetch on a known kid)", n)
				}
			}},
		{name: "HS256 signed with the client secret", want: idp.ErrInvalidToken, msg: "id_token",
			setup: func(t *testing.T, p *provider, c *Config) {
				p.set(func(p *provider) {
					p.idTokenFn = func(claims map[string]any) string {
						return sign(t, signKey{kid: "k1", alg: jose.HS256, priv: []byte(testSecret)}, claims)
					}
				})
			}},
		{name: "alg none", want: idp.ErrInvalidToken, msg: "id_token",
			setup: func(t *testing.T, p *provider, c *Config) {
				p.set(func(p *provider) {
					p.idTokenFn = func(claims map[string]any) string {
						parts := strings.Split(sign(t, p.signing, claims), ".")
						return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`)) + "." + parts[1] + "."
					}
				})
			}},
		{name: "wrong aud", want: idp.ErrInvalidToken, msg: "audience",
			setup: claims(func(m map[string]any) { m["aud"] = "another-client" })},
		{name: "several audiences without azp", want: idp.ErrInvalidToken, msg: "no azp",
			setup: claims(func(m map[string]any) { m["aud"] = []string{testClientID, "another-client"} })},
		{name: "several audiences with azp this client",
			setup: claims(func(m map[string]any) { m["aud"] = []string{testClientID, "another"}; m["azp"] = testClientID })},
		{name: "azp another client", want: idp.ErrInvalidToken, msg: "azp",
			setup: claims(func(m map[string]any) { m["azp"] = "another-client" })},
		{name: "wrong iss in the id_token", want: idp.ErrInvalidToken, msg: "different provider",
			setup: claims(func(m map[string]any) { m["iss"] = "https://evil.example" })},
		{name: "expired", want: idp.ErrInvalidToken, msg: "expired",
			setup: claims(func(m map[string]any) { m["exp"] = m["iat"].(int64) - 60 })},
		{name: "replayed id_token: another log-in's nonce", want: idp.ErrInvalidToken, msg: "nonce",
			setup: claims(func(m map[string]any) { m["nonce"] = idp.NewState("").Nonce })},
		{name: "no nonce", want: idp.ErrInvalidToken, msg: "nonce",
			setup: claims(func(m map[string]any) { delete(m, "nonce") })},
		{name: "missing sub", want: idp.ErrInvalidToken, msg: "sub",
			setup: claims(func(m map[string]any) { delete(m, "sub") })},
		{name: "sub of 256 characters", want: idp.ErrInvalidToken, msg: "sub",
			setup: claims(func(m map[string]any) { m["sub"] = strings.Repeat("s", 256) })},
		{name: "at_hash not the access token's", want: idp.ErrInvalidToken, msg: "at_hash",
			setup: claims(func(m map[string]any) { m["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" })},
		{name: "no id_token", want: idp.ErrInvalidToken, msg: "no id_token",
			setup: tokenAnswer(200, "application/json", `{"access_token":"at","token_type":"Bearer"}`)},
		{name: "token endpoint 500", want: idp.ErrUnavailable, msg: "500",
			setup: tokenAnswer(500, "text/html", "<h1>oops</h1>")},
		{name: "token endpoint 502 with an OAuth error", want: idp.ErrUnavailable, msg: "502",
			setup: tokenAnswer(502, "application/json", `{"error":"temporarily_unavailable"}`)},
		{name: "token endpoint 400 not JSON", want: idp.ErrUpstream, msg: "400",
			setup: tokenAnswer(400, "text/html", "<h1>bad</h1>")},
		{name: "token endpoint bad JSON", want: idp.ErrUnavailable, msg: "token endpoint",
			setup: tokenAnswer(200, "application/json", `{"access_token":`)},
		{name: "token endpoint hangs", want: idp.ErrUnavailable, msg: "token endpoint",
			setup: func(t *testing.T, p *provider, c *Config) {
				c.HTTPClient = idp.HTTPClient(nil, 300*time.Millisecond, 0)
				release := make(chan struct{})
				t.Cleanup(func() { close(release) }) // before the server's Close
				p.set(func(p *provider) {
					p.tokenHook = func(w http.ResponseWriter, r *http.Request) {
						r.ParseForm()
						select {
						case <-r.Context().Done():
						case <-release:
						}
					}
				})
			}},
		{name: "token response too large", want: idp.ErrUnavailable, msg: "token endpoint",
			setup: func(t *testing.T, p *provider, c *Config) {
				c.HTTPClient = idp.HTTPClient(nil, 2*time.Second, 64<<10)
				tokenAnswer(200, "application/json",
					`{"access_token":"at","token_type":"Bearer","id_token":"`+strings.Repeat("a", 100<<10)+`"}`)(t, p, c)
			}},
	}
}

// claimCases: userinfo and the claim mapping.
func claimCases() []callbackCase {
	lean := func(t *testing.T, p *provider, c *Config) {
		p.set(func(p *provider) {
			p.claimsHook = func(m map[string]any) {
				for _, k := range []string{"email", "email_verified", "name", "given_name", "family_name"} {
					delete(m, k)
				}
			}
		})
	}
	userinfo := func(f func(w http.ResponseWriter, g *grant)) func(t *testing.T, p *provider, c *Config) {
		return func(t *testing.T, p *provider, c *Config) {
			lean(t, p, c)
			p.set(func(p *provider) { p.userinfoFn = f })
		}
	}
	return []callbackCase{
		{name: "userinfo fills in what the id_token lacks", setup: lean,
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if id.Email != "alice@example.org" || !id.EmailVerified || id.Name != "Alice Liddell" || p.hitsOf("userinfo") != 1 {
					t.Errorf("identity %+v, userinfo calls %d", id, p.hitsOf("userinfo"))
				}
			}},
		{name: "userinfo sub mismatch", want: idp.ErrInvalidToken, msg: "userinfo's sub",
			setup: userinfo(func(w http.ResponseWriter, g *grant) {
				writeJSON(w, 200, map[string]any{"sub": "mallory", "email": "mallory@example.org"})
			})},
		{name: "userinfo without sub", want: idp.ErrInvalidToken, msg: "userinfo's sub",
			setup: userinfo(func(w http.ResponseWriter, g *grant) { writeJSON(w, 200, map[string]any{"email": "a@b.c"}) })},
		{name: "userinfo 500", want: idp.ErrUnavailable, msg: "500",
			setup: userinfo(func(w http.ResponseWriter, g *grant) { w.WriteHeader(500) })},
		{name: "userinfo not JSON", want: idp.ErrUnavailable, msg: "JSON",
			setup: userinfo(func(w http.ResponseWriter, g *grant) { w.Write([]byte("<html>")) })},
		{name: "signed userinfo (application/jwt)",
			setup: func(t *testing.T, p *provider, c *Config) {
				lean(t, p, c)
				p.set(func(p *provider) {
					p.userinfoFn = func(w http.ResponseWriter, g *grant) {
						w.Header().Set("Content-Type", "application/jwt")
						p.mu.Lock()
						k := p.signing
						p.mu.Unlock()
						w.Write([]byte(sign(t, k, map[string]any{"sub": "alice-123", "email": "signed@example.org", "name": "S"})))
					}
				})
			},
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if id.Email != "signed@example.org" || id.Name != "S" {
					t.Errorf("identity %+v", id)
				}
			}},
		{name: "signed userinfo by another key", want: idp.ErrInvalidToken, msg: "signed userinfo",
			setup: func(t *testing.T, p *provider, c *Config) {
				lean(t, p, c)
				rogue := ecKey(t, "k1")
				p.set(func(p *provider) {
					p.userinfoFn = func(w http.ResponseWriter, g *grant) {
						w.Header().Set("Content-Type", "application/jwt")
						w.Write([]byte(sign(t, rogue, map[string]any{"sub": "alice-123", "email": "x@example.org"})))
					}
				})
			}},
		{name: "userinfo does not override the id_token",
			setup: func(t *testing.T, p *provider, c *Config) {
				p.set(func(p *provider) {
					p.claimsHook = func(m map[string]any) { delete(m, "name") }
					p.userinfoFn = func(w http.ResponseWriter, g *grant) {
						writeJSON(w, 200, map[string]any{"sub": "alice-123", "name": "Alice", "email": "other@example.org"})
					}
				})
			},
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if id.Email != "alice@example.org" || id.Name != "Alice" {
					t.Errorf("identity %+v", id)
				}
			}},
		{name: "claim mapping",
			setup: func(t *testing.T, p *provider, c *Config) {
				c.Claims = map[string]string{"email": "mail", "email_verified": "mail_ok", "name": "display",
					"given_name": "first", "family_name": "last", "preferred_username": "upn"}
				p.set(func(p *provider) {
					p.user = map[string]any{"sub": "u-1", "email": "ignored@example.org", "mail": "bob@example.org",
						"mail_ok": "true", "display": "Bob B", "first": "Bob", "last": "B", "upn": "bob@corp", "amr": []string{"pwd", "mfa"}}
				})
			},
			check: func(t *testing.T, p *provider, id idp.Identity) {
				want := idp.Identity{Issuer: p.issuer, Subject: "u-1", Email: "bob@example.org", EmailVerified: true,
					Name: "Bob B", GivenName: "Bob", FamilyName: "B", PreferredUsername: "bob@corp", AMR: []string{"pwd", "mfa"}}
				if !reflect.DeepEqual(id, want) {
					t.Errorf("identity %+v, want %+v", id, want)
				}
			}},
		{name: `email_verified "false" string`,
			setup: user(func(m map[string]any) { m["email_verified"] = "false" }),
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if id.EmailVerified {
					t.Error("verified")
				}
			}},
		{name: "email_verified 1 is not true",
			setup: user(func(m map[string]any) { m["email_verified"] = 1 }),
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if id.EmailVerified {
					t.Error("verified")
				}
			}},
		{name: "a claim of the wrong type is ignored",
			setup: user(func(m map[string]any) { m["name"] = map[string]any{"x": 1}; m["email"] = 42 }),
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if id.Name != "" || id.Email != "" {
					t.Errorf("identity %+v", id)
				}
			}},
	}
}

// domainCases: allowed domains, checked on the verified claim.
func domainCases() []callbackCase {
	allow := func(claim string, f func(m map[string]any)) func(t *testing.T, p *provider, c *Config) {
		return func(t *testing.T, p *provider, c *Config) {
			c.AllowedDomains = []string{"Example.org", "example.net"}
			if claim != "" {
				c.Claims = map[string]string{"domain": claim}
			}
			p.set(func(p *provider) { f(p.user) })
		}
	}
	return []callbackCase{
		{name: "hd matches",
			setup: allow("hd", func(m map[string]any) { m["hd"] = "example.org"; m["email"] = "a@gmail.com" }),
			check: func(t *testing.T, p *provider, id idp.Identity) {
				if id.Domain != "example.org" {
					t.Errorf("domain %q", id.Domain)
				}
			}},
		{name: "hd mismatched though the email's domain is allowed", want: idp.ErrDomain, msg: `hosted domain "evil.example"`,
			setup: allow("hd", func(m map[string]any) { m["hd"] = "evil.example" })},
		{name: "no hd, verified email of an allowed domain",
			setup: allow("hd", func(m map[string]any) { m["email"] = "alice@EXAMPLE.net" })},
		{name: "no hd, verified email of another domain", want: idp.ErrDomain, msg: `email's domain "gmail.com"`,
			setup: allow("hd", func(m map[string]any) { m["email"] = "alice@gmail.com" })},
		{name: "no hd, unverified email of an allowed domain", want: idp.ErrDomain, msg: "no verified email",
			setup: allow("hd", func(m map[string]any) { m["email_verified"] = false })},
		{name: "no domain claim configured: an hd claim is not trusted", want: idp.ErrDomain, msg: "gmail.com",
			setup: allow("", func(m map[string]any) { m["hd"] = "example.org"; m["email"] = "a@gmail.com" })},
		{name: `verified email, email_verified "true" string`,
			setup: allow("", func(m map[string]any) { m["email_verified"] = "true" })},
	}
}
