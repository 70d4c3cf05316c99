package authz_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// FuzzTokenEndpoint: whatever the form, the token endpoint answers JSON,
// never 5xx, never without no-store, and issues no token to an
// unauthenticated caller.
func FuzzTokenEndpoint(f *testing.F) {
	for _, s := range []string{
		"grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
		"grant_type=refresh_token&refresh_token=ory_rt_a.b",
		"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c",
		"grant_type=password&username=alice&password=x",
		"grant_type=client_credentials&client_id=%00&client_secret=%ff",
		"grant_type=authorization_code&grant_type=refresh_token",
		"%zz", "", "scope=" + strings.Repeat("a ", 1000),
	} {
		f.Add(s, "")
		f.Add(s, "Basic Og==")
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body, authHeader string) {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authHeader != "" && !strings.ContainsAny(authHeader, "\r\n\x00") {
			req.Header.Set("Authorization", authHeader)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // the client refused to send it
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("non-JSON answer %d: %q", resp.StatusCode, b)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		if vals, _ := url.ParseQuery(body); resp.StatusCode == 200 && vals.Get("grant_type") != "password" {
			t.Fatalf("token issued for %q: %s", body, b)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
	})
}

// FuzzAuthorizeEndpoint: whatever the query, the authorization endpoint
// never answers 5xx and redirects only to a registered redirect URI.
func FuzzAuthorizeEndpoint(f *testing.F) {
	f.Add("response_type=code&client_id=CLIENT&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&state=0123456789&scope=openid&aud=AUD")
	f.Add("response_type=token&client_id=CLIENT&redirect_uri=https%3A%2F%2Fevil.example%2F&state=0123456789")
	f.Add("client_id=CLIENT&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&request=eyJ.eyJ.x")
	f.Add("client_id=CLIENT&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&response_mode=fragment&response_type=code")
	f.Add("%%%")
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, query string) {
		query = strings.ReplaceAll(query, "CLIENT", e.public.ID)
		query = strings.ReplaceAll(query, "AUD", url.QueryEscape(e.fhir))
		req, err := http.NewRequest(http.MethodGet, e.base+"/oauth/authorize?"+query, nil)
		if err != nil {
			return
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %q", resp.StatusCode, query)
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("bad Location %q", loc)
			}
			u.RawQuery, u.Fragment = "", ""
			if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Path != "/cb" {
				t.Fatalf("redirected to unregistered %q for %q", loc, query)
			}
		}
	})
}

// FuzzClientAssertion: whatever the client_assertion, the token endpoint
// never panics or answers 5xx, and issues a token only for an assertion
// whose signature verifies with the client's registered key and whose
// claims obey the RFC 7523 / SMART rules (checklist K5-K7).
//
// With sign set, data is the payload and the client's real key signs it
// (exploring the claim checks); otherwise data is the whole assertion
// (exploring the parser and the signature check). CLIENT, TOKENURL, EXP
// and JTI in data are replaced by the client id, the token URL, a time 4
// minutes ahead and a fresh jti.
func FuzzClientAssertion(f *testing.F) {
	e := newEnv(f)
	k := newBackendKey(f, jose.ES384)
	c := e.backendClient(k, "")
	tokenURL := e.tokenURL()
	valid := `{"iss":"CLIENT","sub":"CLIENT","aud":"TOKENURL","exp":EXP,"jti":"JTI"}`
	for _, s := range []string{
		valid,
		`{"iss":"CLIENT","sub":"CLIENT","aud":["x","TOKENURL"],"exp":EXP,"jti":"JTI"}`,
		`{"iss":"CLIENT","sub":"other","aud":"TOKENURL","exp":EXP,"jti":"JTI"}`,
		`{"iss":"CLIENT","sub":"CLIENT","aud":"TOKENURL","exp":"EXP","jti":"JTI"}`,
		`{"iss":"CLIENT","sub":"CLIENT","aud":"TOKENURL","exp":1e300,"jti":"JTI"}`,
		`{"iss":"CLIENT","sub":"CLIENT","aud":"TOKENURL","exp":EXP,"nbf":-1,"jti":"JTI"}`,
		`{"iss":"CLIENT","sub":"CLIENT","aud":"TOKENURL","exp":EXP}`,
		`{"iss":["CLIENT"],"sub":"CLIENT","aud":"TOKENURL","exp":EXP,"jti":"JTI"}`,
		`null`, `[]`, ``,
	} {
		f.Add(s, true)
	}
	for _, s := range []string{
		k.assert(f, c.ID, tokenURL),
		unsignedAssertion(c.ID, k.kid, tokenURL),
		hs256WithPublicKey(f, k, c.ID, tokenURL),
		tamper(f, k.assert(f, c.ID, tokenURL), "sub", "x"),
		"eyJhbGciOiJFUzM4NCJ9.e30.", "a.b.c", "a.b.c.d.e", "..", `{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`,
	} {
		f.Add(s, false)
	}
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, data string, sign bool) {
		data = strings.NewReplacer("CLIENT", c.ID, "TOKENURL", tokenURL,
			"EXP", strconv.FormatInt(time.Now().Add(4*time.Minute).Unix(), 10),
			"JTI", fmt.Sprintf("fuzz-%d-%d", time.Now().UnixNano(), seq.Add(1))).Replace(data)
		raw := data
		if sign {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := signer.Sign([]byte(data))
			if err != nil {
				t.Fatal(err)
			}
			if raw, err = obj.CompactSerialize(); err != nil {
				t.Fatal(err)
			}
		}
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
			"client_assertion_type": {jwtBearer}, "client_assertion": {raw}}
		resp, err := http.PostForm(e.base+"/oauth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %q: %s", resp.StatusCode, raw, b)
		}
		if resp.StatusCode != http.StatusOK {
			return
		}
		// A token was issued: the assertion must be one the client's key
		// signed, with claims that obey every rule.
		jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES384})
		if err != nil {
			t.Fatalf("token issued for an unparsable assertion %q", raw)
		}
		payload, err := jws.Verify(k.priv.Public())
		if err != nil {
			t.Fatalf("token issued for an assertion not signed by the client's key: %q", raw)
		}
		var cl josejwt.Claims
		if err := json.Unmarshal(payload, &cl); err != nil {
			t.Fatalf("token issued for claims %q: %v", payload, err)
		}
		now := time.Now()
		if cl.Issuer != c.ID || cl.Subject != c.ID || !cl.Audience.Contains(tokenURL) || cl.ID == "" || cl.Expiry == nil ||
			cl.Expiry.Time().Before(now.Add(-time.Minute)) || cl.Expiry.Time().After(now.Add(6*time.Minute)) {
			t.Fatalf("token issued for claims %s", payload)
		}
	})
}
