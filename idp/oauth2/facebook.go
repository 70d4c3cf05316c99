package oauth2

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"

	xoauth2 "golang.org/x/oauth2"

	"github.com/smartgate/smartgate/idp"
)

// The facebook preset's endpoints: Facebook Login's dialog, the Graph
// API's token endpoint and its /me node, at Graph API v25.0 (Facebook
// keeps each version for at least two years after the next one; a newer
// one is set with Config's AuthURL, TokenURL and UserInfoURL).
const (
	FacebookAuthURL     = "https://www.facebook.com/v25.0/dialog/oauth"
	FacebookTokenURL    = "https://graph.facebook.com/v25.0/oauth/access_token"
	FacebookUserInfoURL = "https://graph.facebook.com/v25.0/me"
)

// facebookFields are the /me fields asked for (the fields parameter).
const facebookFields = "id,name,email"

// facebookClaims: Graph's id is the subject (a string of digits, unique
// per app); there is no email_verified, so the email never counts as
// verified.
func facebookClaims() mapping {
	return mapping{subject: []string{"id"}, email: "email", name: "name"}
}

// facebook checks the facebook preset's settings and fills in its
// defaults.
func (conn *Connector) facebook(c *Config, bad func(string, ...any)) (xoauth2.Endpoint, string) {
	if c.Issuer != "" && c.Issuer != idp.FacebookIssuer {
		bad("the facebook preset's issuer is %s, not %q", idp.FacebookIssuer, c.Issuer)
	}
	if len(c.Claims) > 0 {
		bad("the facebook preset's claims are fixed (id, name, email); remove claims")
	}
	if len(c.AllowedDomains) > 0 {
		bad("allowed_domains cannot apply to the facebook preset: Facebook's emails are never verified, so it would refuse everyone")
	}
	conn.issuer = idp.FacebookIssuer
	conn.claims = facebookClaims()
	e := xoauth2.Endpoint{AuthURL: or(c.AuthURL, FacebookAuthURL), TokenURL: or(c.TokenURL, FacebookTokenURL),
		AuthStyle: xoauth2.AuthStyleInParams} // Facebook reads client_id and client_secret from the form
	userinfo := or(c.UserInfoURL, FacebookUserInfoURL)
	checkURL("auth_url", e.AuthURL, true, bad)
	checkURL("token_url", e.TokenURL, true, bad)
	checkURL("userinfo_url", userinfo, true, bad)
	return e, userinfo
}

// facebookQuery is the /me query for the access token: the fields and
// the appsecret_proof, which proves the call comes from the app holding
// the secret (Graph refuses a token without it when the app requires it).
func facebookQuery(u *url.URL, secret, accessToken string) {
	q := u.Query()
	q.Set("fields", facebookFields)
	q.Set("appsecret_proof", appSecretProof(secret, accessToken))
	u.RawQuery = q.Encode()
}

// appSecretProof is hex(HMAC-SHA256(app secret, access token)).
func appSecretProof(secret, accessToken string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(accessToken))
	return hex.EncodeToString(m.Sum(nil))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
