package registration

import (
	"log/slog"
	"time"
)

// Issued is what the caller generated and stored for a new or read client
// (this package generates and stores nothing).
type Issued struct {
	ClientID string
	// ClientSecret is the plaintext secret when one was issued now, else "".
	ClientSecret string
	// IssuedAt is when the client id was issued; zero leaves
	// client_id_issued_at out.
	IssuedAt time.Time
	// SecretExpiresAt is when ClientSecret expires; zero means never (0 in
	// the response).
	SecretExpiresAt time.Time
	// RegistrationAccessToken and RegistrationClientURI are the RFC 7592 §3
	// client configuration endpoint credentials, when offered.
	RegistrationAccessToken string
	RegistrationClientURI   string
}

// LogValue keeps the secret and the registration access token out of logs.
func (is Issued) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", is.ClientID),
		slog.Bool("secret_issued", is.ClientSecret != ""),
	)
}

// Response is the client information response of RFC 7591 §3.2.1 (also RFC
// 7592 §3 for read and update): the issued credentials and every registered
// metadata value. It marshals to the JSON body to send with HTTP 201 (200
// for RFC 7592 reads and updates) and, because it contains credentials,
// Cache-Control: no-store and Pragma: no-cache.
type Response struct {
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret,omitempty"`
	ClientIDIssuedAt int64  `json:"client_id_issued_at,omitempty"`
	// ClientSecretExpiresAt is REQUIRED when a secret is issued (RFC 7591
	// §3.2.1); 0 means it does not expire. It is absent otherwise.
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
	Metadata
}

// NewResponse builds the response for registered metadata m (the result of
// Validate) and the caller's issued credentials.
func NewResponse(m Metadata, is Issued) Response {
	r := Response{
		ClientID:                is.ClientID,
		ClientSecret:            is.ClientSecret,
		RegistrationAccessToken: is.RegistrationAccessToken,
		RegistrationClientURI:   is.RegistrationClientURI,
		Metadata:                m,
	}
	if !is.IssuedAt.IsZero() {
		r.ClientIDIssuedAt = is.IssuedAt.Unix()
	}
	if is.ClientSecret != "" {
		var exp int64
		if !is.SecretExpiresAt.IsZero() {
			exp = is.SecretExpiresAt.Unix()
		}
		r.ClientSecretExpiresAt = &exp
	}
	// Software statements are ignored (see Validate), so none is echoed.
	r.SoftwareStatement = ""
	return r
}

// LogValue keeps the secret and the registration access token out of logs.
func (r Response) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", r.ClientID),
		slog.Bool("secret_issued", r.ClientSecret != ""),
		slog.String("client_name", r.ClientName),
	)
}
