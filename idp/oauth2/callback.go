package oauth2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	xoauth2 "golang.org/x/oauth2"

	"github.com/smartgate/smartgate/idp"
)

// callbackError is the provider's error answer in the callback's query
// (RFC 6749 §4.1.2.1; Facebook adds error_reason), as ErrUpstream, or nil.
func callbackError(q url.Values) error {
	code := q.Get("error")
	if code == "" {
		return nil
	}
	msg := idp.CleanText(code, 64)
	if r := q.Get("error_reason"); r != "" {
		msg += " (" + idp.CleanText(r, 64) + ")"
	}
	if d := q.Get("error_description"); d != "" {
		msg += ": " + idp.CleanText(d, 200)
	}
	return fmt.Errorf("%w: %s", idp.ErrUpstream, msg)
}

// exchange trades code for an access token at the token endpoint, with
// st's PKCE verifier and redirect URI. It is the one place that hands
// x/oauth2 the bounded client (x/oauth2 takes it from the context).
func (conn *Connector) exchange(ctx context.Context, code string, st idp.State) (string, error) {
	ctx = context.WithValue(ctx, xoauth2.HTTPClient, conn.client)
	tok, err := conn.oauth.Exchange(ctx, code, xoauth2.VerifierOption(st.Verifier),
		xoauth2.SetAuthURLParam("redirect_uri", st.RedirectURI))
	if err != nil {
		return "", conn.tokenError(ctx, err)
	}
	if t := tok.TokenType; t != "" && !strings.EqualFold(t, "bearer") {
		return "", fmt.Errorf("%w: the token endpoint issued a %q token, not a bearer token", idp.ErrUnavailable,
			idp.CleanText(t, 32))
	}
	return tok.AccessToken, nil
}

// tokenError classifies a failed code exchange: the provider's refusal
// (an RFC 6749 error answer) is ErrUpstream, a server error or a failed
// call ErrUnavailable. The answer's body is never shown or logged.
func (conn *Connector) tokenError(ctx context.Context, err error) error {
	var re *xoauth2.RetrieveError
	if !errors.As(err, &re) {
		return conn.unavailable(ctx, "token endpoint", err)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	conn.logger.WarnContext(ctx, "token request refused", "status", status, "error", idp.CleanText(re.ErrorCode, 64),
		"error_description", idp.CleanText(re.ErrorDescription, 200), "error_uri", idp.CleanText(re.ErrorURI, 200))
	if status >= 500 {
		return fmt.Errorf("%w: the token endpoint failed (HTTP %d)", idp.ErrUnavailable, status)
	}
	msg := "the token endpoint refused the code"
	if re.ErrorCode != "" {
		msg += ": " + idp.CleanText(re.ErrorCode, 64)
	}
	return fmt.Errorf("%w: %s", idp.ErrUpstream, msg)
}

// fetchUserInfo reads the userinfo endpoint with the access token (in the
// Authorization header; for Facebook with the fields and appsecret_proof
// too). A refusal (4xx) is ErrUpstream, anything else that fails
// ErrUnavailable.
func (conn *Connector) fetchUserInfo(ctx context.Context, accessToken string) ([]byte, error) {
	u, err := url.Parse(conn.userinfo)
	if err != nil { // checked by Open
		return nil, fmt.Errorf("idp/oauth2: userinfo URL: %w", err)
	}
	if conn.preset == PresetFacebook {
		facebookQuery(u, conn.secret, accessToken)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("idp/oauth2: userinfo request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := conn.client.Do(req)
	if err != nil {
		return nil, conn.unavailable(ctx, "userinfo endpoint", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, conn.unavailable(ctx, "userinfo endpoint", err)
	}
	if resp.StatusCode == http.StatusOK {
		return body, nil
	}
	conn.logger.WarnContext(ctx, "userinfo request refused", "status", resp.StatusCode, "error", errorMessage(body))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return nil, fmt.Errorf("%w: the userinfo endpoint refused the token (HTTP %d)", idp.ErrUpstream,
			resp.StatusCode)
	}
	return nil, fmt.Errorf("%w: the userinfo endpoint failed (HTTP %d)", idp.ErrUnavailable, resp.StatusCode)
}

// unavailable is ErrUnavailable for a call to what that failed with err,
// with the reason in words. The cause is logged without the request's URL
// (Facebook's carries the appsecret_proof).
func (conn *Connector) unavailable(ctx context.Context, what string, err error) error {
	var ue *url.Error
	isURL := errors.As(err, &ue)
	reason := "answer could not be read"
	switch {
	case errors.Is(err, idp.ErrTooLarge):
		reason = "answer was too large"
	case errors.Is(err, context.DeadlineExceeded), isURL && ue.Timeout():
		reason = "did not answer in time"
	case isURL:
		reason = "could not be reached"
	}
	cause := err
	if isURL {
		cause = ue.Err
	}
	conn.logger.WarnContext(ctx, "upstream call failed", "endpoint", what, "reason", reason, "cause", cause.Error())
	return fmt.Errorf("%w: the %s %s", idp.ErrUnavailable, what, reason)
}

// errorMessage is the error text of an error answer's JSON body, for the
// log: RFC 6749's error and error_description, or Graph's error.message.
func errorMessage(body []byte) string {
	var e struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var code string
	if json.Unmarshal(e.Error, &code) == nil {
		return idp.CleanText(strings.TrimSpace(code+" "+e.ErrorDescription), 200)
	}
	var graph struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	if json.Unmarshal(e.Error, &graph) == nil {
		return idp.CleanText(strings.TrimSpace(graph.Type+" "+graph.Message), 200)
	}
	return ""
}
