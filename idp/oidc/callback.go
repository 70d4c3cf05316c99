package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/smartgate/smartgate/idp"
)

// maxCode bounds the authorization code taken from a callback.
const maxCode = 4096

// parseCallback checks the provider's answer q (the callback's query)
// before anything is fetched and returns its code. RFC 9207: an iss
// parameter must be issuer exactly (mix-up defence), in error answers
// too; issSent reports that it was there. A repeated parameter makes
// the answer ambiguous, so it is refused.
func parseCallback(q url.Values, issuer string) (code string, issSent bool, err error) {
	for _, k := range []string{"iss", "code", "state", "error", "error_description"} {
		if len(q[k]) > 1 {
			return "", false, fmt.Errorf("%w: the provider's answer repeats %s", idp.ErrInvalidToken, k)
		}
	}
	if q.Has("iss") {
		if iss := q.Get("iss"); iss != issuer {
			return "", false, fmt.Errorf("%w: the answer's iss %q is not this provider's issuer (RFC 9207 mix-up defence)",
				idp.ErrInvalidToken, idp.CleanText(iss, 100))
		}
	}
	if q.Has("error") {
		msg := idp.CleanText(q.Get("error"), 64)
		if msg == "" {
			msg = "(no error code)"
		}
		if d := idp.CleanText(q.Get("error_description"), 200); d != "" {
			msg += ": " + d
		}
		return "", false, fmt.Errorf("%w: %s", idp.ErrUpstream, msg)
	}
	code = q.Get("code")
	if code == "" || len(code) > maxCode {
		return "", false, fmt.Errorf("%w: the provider's answer has no usable code", idp.ErrUpstream)
	}
	return code, q.Has("iss"), nil
}

// HandleCallback verifies the provider's answer q for the log-in st:
// the iss parameter (RFC 9207), the code exchanged with the PKCE
// verifier and redirect_uri, the id_token (signature, issuer, audience,
// azp, expiry, then the nonce), userinfo when claims are missing, the
// claim mapping and the allowed domains. Identity.Issuer is the
// configured issuer. Errors wrap idp.ErrUpstream, ErrUnavailable,
// ErrInvalidToken or ErrDomain, and name no secret or token.
func (c *Connector) HandleCallback(ctx context.Context, st idp.State, q url.Values) (idp.Identity, error) {
	code, issSent, err := parseCallback(q, c.issuer)
	if err != nil {
		return idp.Identity{}, err
	}
	if st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return idp.Identity{}, fmt.Errorf("%w: incomplete log-in state", idp.ErrInvalidToken)
	}
	// The caller matched the state already; a second look costs nothing.
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return idp.Identity{}, fmt.Errorf("%w: the answer's state is not this log-in's", idp.ErrInvalidToken)
	}
	d, err := c.discover(ctx)
	if err != nil {
		return idp.Identity{}, err
	}
	if !issSent && d.issRequired {
		return idp.Identity{}, fmt.Errorf("%w: the provider always sends iss (RFC 9207), this answer has none", idp.ErrInvalidToken)
	}
	ctx = oidc.ClientContext(ctx, c.client)
	tok, err := c.oauth2Config(d, st.RedirectURI).Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return idp.Identity{}, exchangeError(err)
	}
	idt, claims, err := c.verify(ctx, d, st, tok)
	if err != nil {
		return idp.Identity{}, err
	}
	if c.needUserinfo(claims) && d.userinfoURL != "" {
		if err := c.addUserinfo(ctx, d, tok.AccessToken, idt.Subject, claims); err != nil {
			return idp.Identity{}, err
		}
	}
	id := mapClaims(c.claims, claims)
	id.Issuer, id.Subject = c.issuer, idt.Subject
	if err := checkDomain(id, c.allowedDomains); err != nil {
		return idp.Identity{}, err
	}
	return id, nil
}

// exchangeError classifies a failed code exchange: the provider's OAuth
// error (invalid_grant, …) is ErrUpstream, anything else (no answer in
// time, 5xx, too large, unreadable) ErrUnavailable. Bodies are not
// quoted: they might echo what was sent.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		switch {
		case status >= 500:
			return fmt.Errorf("%w: the token endpoint answered %d", idp.ErrUnavailable, status)
		case re.ErrorCode != "":
			return fmt.Errorf("%w: the code exchange was refused: %s", idp.ErrUpstream, idp.CleanText(re.ErrorCode, 64))
		default:
			return fmt.Errorf("%w: the token endpoint answered %d", idp.ErrUpstream, status)
		}
	}
	return fmt.Errorf("%w: token endpoint: %s", idp.ErrUnavailable, idp.CleanText(err.Error(), 300))
}

// verify checks the token response's id_token and returns it and its
// claims.
func (c *Connector) verify(ctx context.Context, d *discovery, st idp.State, tok *oauth2.Token) (*oidc.IDToken, map[string]json.RawMessage, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, nil, fmt.Errorf("%w: the token response has no id_token", idp.ErrInvalidToken)
	}
	note := &fetchNote{}
	idt, err := d.verifier.Verify(context.WithValue(ctx, fetchNoteKey{}, note), raw)
	if err != nil {
		if note.err != nil {
			return nil, nil, fmt.Errorf("%w: %s", idp.ErrUnavailable, note.err.Error())
		}
		return nil, nil, fmt.Errorf("%w: id_token: %s", idp.ErrInvalidToken, idp.CleanText(err.Error(), 300))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return nil, nil, fmt.Errorf("%w: the id_token's nonce is not this log-in's (replayed?)", idp.ErrInvalidToken)
	}
	if idt.Subject == "" || len(idt.Subject) > maxSubject {
		return nil, nil, fmt.Errorf("%w: the id_token has no usable sub", idp.ErrInvalidToken)
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return nil, nil, fmt.Errorf("%w: id_token claims: %s", idp.ErrInvalidToken, idp.CleanText(err.Error(), 100))
	}
	// OpenID Connect Core §3.1.3.7: several audiences need azp; an azp
	// must be this client.
	if has(claims, "azp") {
		var azp string
		if json.Unmarshal(claims["azp"], &azp) != nil || azp != c.clientID {
			return nil, nil, fmt.Errorf("%w: the id_token's azp is another client", idp.ErrInvalidToken)
		}
	} else if len(idt.Audience) > 1 {
		return nil, nil, fmt.Errorf("%w: the id_token has several audiences and no azp", idp.ErrInvalidToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, nil, fmt.Errorf("%w: the id_token's at_hash does not match the access token", idp.ErrInvalidToken)
		}
	}
	return idt, claims, nil
}

// needUserinfo: a requested email or profile is missing from the
// id_token.
func (c *Connector) needUserinfo(claims map[string]json.RawMessage) bool {
	return slices.Contains(c.scopes, "email") && !has(claims, c.claims[ClaimEmail]) ||
		slices.Contains(c.scopes, "profile") && !has(claims, c.claims[ClaimName])
}

// addUserinfo adds the userinfo claims the id_token lacks to claims
// (the id_token's win). The userinfo's sub must be the id_token's.
func (c *Connector) addUserinfo(ctx context.Context, d *discovery, accessToken, sub string, claims map[string]json.RawMessage) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.userinfoURL, nil)
	if err != nil {
		return fmt.Errorf("%w: userinfo: %v", idp.ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: userinfo: %s", idp.ErrUnavailable, idp.CleanText(err.Error(), 300))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return fmt.Errorf("%w: userinfo: %s", idp.ErrUnavailable, idp.CleanText(err.Error(), 100))
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: the userinfo endpoint answered %d", idp.ErrUnavailable, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: the userinfo endpoint answered %d", idp.ErrUpstream, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/jwt" {
		note := &fetchNote{}
		if body, err = d.keys.VerifySignature(context.WithValue(ctx, fetchNoteKey{}, note), string(body)); err != nil {
			if note.err != nil {
				return fmt.Errorf("%w: %s", idp.ErrUnavailable, note.err.Error())
			}
			return fmt.Errorf("%w: signed userinfo: %s", idp.ErrInvalidToken, idp.CleanText(err.Error(), 200))
		}
	}
	var ui map[string]json.RawMessage
	if err := json.Unmarshal(body, &ui); err != nil {
		return fmt.Errorf("%w: userinfo is not a JSON object", idp.ErrUnavailable)
	}
	var uisub string
	if json.Unmarshal(ui["sub"], &uisub) != nil || subtle.ConstantTimeCompare([]byte(uisub), []byte(sub)) != 1 {
		return fmt.Errorf("%w: the userinfo's sub is not the id_token's", idp.ErrInvalidToken)
	}
	for k, v := range ui {
		if !has(claims, k) {
			claims[k] = v
		}
	}
	return nil
}
