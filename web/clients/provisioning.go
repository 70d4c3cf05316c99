package clients

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/web"
)

// Provisioning tokens: the long-lived bearer secrets ("secret token") that
// Entra ID and Okta are configured with. An administrator issues one for a
// client allowed SCIM on its edit page; it is shown once (the show-once
// handles of client secrets, in a map of its own), stored as its SHA-256,
// listed with its label, creation and last use, and revoked there. A
// client's tokens stop working while it is disabled and are deleted with
// it (scimauth.Authorizer, the store).

// maxLabelRunes bounds a provisioning token's label.
const maxLabelRunes = 100

// provisioningView is the edit page's section.
type provisioningView struct {
	// Allowed: the client may hold tokens (Client.AllowSCIM).
	Allowed bool
	// New is a token just issued, shown this once.
	New    string
	Tokens []tokenRow
}

type tokenRow struct {
	ID, Label         string
	Created, LastUsed time.Time
	Revoked           time.Time
	IsRevoked         bool
}

// when formats a time for the pages ("never" for the zero time).
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// loadProvisioning fills v.Provisioning for client c (nothing when the
// pages have no token store).
func (s *Server) loadProvisioning(w http.ResponseWriter, r *http.Request, v *page, c *authz.Client, user string) bool {
	if s.cfg.Tokens == nil {
		return true
	}
	list, err := s.cfg.Tokens.ProvisioningTokens(r.Context(), c.ID)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return false
	}
	pv := &provisioningView{Allowed: c.AllowSCIM, New: s.tokenReveals.Take(r.URL.Query().Get("token"), c.ID, user)}
	for _, t := range list {
		pv.Tokens = append(pv.Tokens, tokenRow{ID: t.ID, Label: t.Label, Created: t.CreatedAt, LastUsed: t.LastUsedAt,
			Revoked: t.RevokedAt, IsRevoked: t.Revoked()})
	}
	v.Provisioning = pv
	return true
}

func (s *Server) tokensLocation(id, handle string) string {
	loc := AdminPath + "/" + url.PathEscape(id)
	if handle != "" {
		loc += "?token=" + handle
	}
	return loc + "#provisioning-tokens"
}

// issueToken issues a provisioning token with the posted label.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	u, _ := web.UserFrom(r.Context())
	c, ok := s.client(w, r)
	if !ok {
		return
	}
	label := strings.TrimSpace(r.PostForm.Get("label"))
	switch {
	case !c.AllowSCIM:
		s.cfg.Pages.Fail(w, r, http.StatusBadRequest, "Allow this client SCIM (and save) before issuing a provisioning token.", errors.New("clients: provisioning token for a client not allowed SCIM"))
		return
	case label == "" || utf8.RuneCountInString(label) > maxLabelRunes || strings.ContainsFunc(label, isControl):
		s.cfg.Pages.Fail(w, r, http.StatusBadRequest, "Give the token a label of at most 100 characters (for example the system it is for).", errors.New("clients: bad provisioning token label"))
		return
	}
	secret, id, hash, err := scimauth.NewToken()
	if err == nil {
		err = s.cfg.Tokens.CreateProvisioningToken(r.Context(), scimauth.Token{ID: id, ClientID: c.ID, Label: label, Hash: hash,
			CreatedBy: u.ID, CreatedAt: s.cfg.Now()})
	}
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such client.", err)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.recordToken(r, u.ID, c.ID, "issue provisioning token", id)
	seeOther(w, s.tokensLocation(c.ID, s.tokenReveals.Put(c.ID, secret, u.ID)))
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// revokeToken revokes one of the client's provisioning tokens.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	u, _ := web.UserFrom(r.Context())
	id, tok := r.PathValue("id"), r.PathValue("token")
	err := s.cfg.Tokens.RevokeProvisioningToken(r.Context(), id, tok, s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Pages.Fail(w, r, http.StatusNotFound, "There is no such provisioning token.", err)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.recordToken(r, u.ID, id, "revoke provisioning token", tok)
	seeOther(w, s.tokensLocation(id, ""))
}

// recordToken audits an action on provisioning token tokenID (its id,
// never the token).
func (s *Server) recordToken(r *http.Request, actor, clientID, action, tokenID string) {
	if s.cfg.Audit == nil {
		return
	}
	s.cfg.Audit.Record(r.Context(), audit.Event{At: s.cfg.Now(), Kind: "client", Actor: actor, ClientID: clientID,
		Action: action, Detail: "token " + tokenID, Outcome: audit.Success, Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(r.Context())})
}
