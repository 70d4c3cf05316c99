package loadgen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client is an OAuth client's credentials for client_secret_basic.
type Client struct {
	ID, Secret string
}

// Basic returns the Authorization header value for client_secret_basic
// (RFC 6749 §2.3.1: both parts form-urlencoded before base64).
func (c Client) Basic() string {
	raw := url.QueryEscape(c.ID) + ":" + url.QueryEscape(c.Secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

func formHeader(extra ...string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Accept", "application/json")
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

// IssueRequest is a client_credentials token request with client_secret_basic.
func IssueRequest(tokenURL string, c Client, scope string) Request {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return Request{
		Method:  http.MethodPost,
		BaseURL: tokenURL,
		Header:  formHeader("Authorization", c.Basic()),
		Body:    []byte(form.Encode()),
	}
}

// PasswordRequest is an OWin password-grant token request.
func PasswordRequest(tokenURL, username, password string) Request {
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	return Request{
		Method:  http.MethodPost,
		BaseURL: tokenURL,
		Header:  formHeader(),
		Body:    []byte(form.Encode()),
	}
}

// IntrospectRequest is an RFC 7662 introspection of token, authenticated
// with client_secret_basic.
func IntrospectRequest(introspectURL string, c Client, token string) Request {
	form := url.Values{"token": {token}}
	return Request{
		Method:  http.MethodPost,
		BaseURL: introspectURL,
		Header:  formHeader("Authorization", c.Basic()),
		Body:    []byte(form.Encode()),
	}
}

// GetRequest is a GET of base+path for each path in turn, with a bearer
// token when token is not empty.
func GetRequest(base string, paths []string, token string) Request {
	h := http.Header{}
	h.Set("Accept", "application/fhir+json")
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return Request{Method: http.MethodGet, BaseURL: base, Paths: paths, Header: h}
}

// ActiveCheck accepts a 200 introspection response that says active:true;
// an inactive answer counts as "inactive".
func ActiveCheck(status int, body []byte) string {
	if status != http.StatusOK {
		return fmt.Sprint(status)
	}
	var v struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "badjson"
	}
	if !v.Active {
		return "inactive"
	}
	return ""
}

// TokenCheck accepts a 200 token response that carries an access_token.
func TokenCheck(status int, body []byte) string {
	if status != http.StatusOK {
		return fmt.Sprint(status)
	}
	if !bytes.Contains(body, []byte(`"access_token"`)) {
		return "noaccesstoken"
	}
	return ""
}

// FetchToken sends req once (a token request) and returns the access token.
func FetchToken(ctx context.Context, req Request) (string, error) {
	if err := CheckLoopback(req.BaseURL); err != nil {
		return "", err
	}
	hc := NewClient(1, 0)
	defer hc.CloseIdleConnections()
	r, err := http.NewRequestWithContext(ctx, req.Method, req.BaseURL, bytes.NewReader(req.Body))
	if err != nil {
		return "", fmt.Errorf("loadgen: token request: %w", err)
	}
	r.Header = req.Header.Clone()
	resp, err := hc.Do(r)
	if err != nil {
		return "", fmt.Errorf("loadgen: token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", fmt.Errorf("loadgen: token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("loadgen: token endpoint answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("loadgen: token response has no access_token: %s", strings.TrimSpace(string(body)))
	}
	return tr.AccessToken, nil
}
