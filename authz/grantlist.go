package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// RefreshFamily is one grant's line of refresh tokens (one request id:
// each refresh rotates the token, the family stays): the active token's
// record and when the family began and was last used.
type RefreshFamily struct {
	Record   TokenRecord // the family's active refresh token
	Created  time.Time   // the first refresh token's issue
	LastUsed time.Time   // the latest rotation; zero when never refreshed
}

// FamilyStore lists the active refresh-token families: the console's view
// of who holds what (store/sqlite implements it).
type FamilyStore interface {
	// RefreshFamilies returns the families with an active, unexpired
	// refresh token at now, of subject and of clientID (either "" for
	// any), most recently created first, at most limit.
	RefreshFamilies(ctx context.Context, subject, clientID string, now time.Time, limit int) ([]RefreshFamily, error)
	// RefreshFamily returns the family of the grant requestID when it has
	// an active, unexpired refresh token at now; store.ErrNotFound
	// otherwise (unknown, ended or expired, or requestID "").
	RefreshFamily(ctx context.Context, requestID string, now time.Time) (RefreshFamily, error)
}

// Grant is an active refresh-token family as an administrator sees it.
type Grant struct {
	ID       string // the grant's request id
	ClientID string
	Subject  string
	Scopes   []string
	Patient  string // the launch context's patient, "" for none
	Created  time.Time
	LastUsed time.Time
}

// Grants lists the active grants (refresh-token families) of subject and
// clientID (either "" for any), at most limit. Server.RevokeFamily ends
// one; Server.RevokeGrants ends all of a subject's at a client.
func Grants(ctx context.Context, st FamilyStore, subject, clientID string, now time.Time, limit int) ([]Grant, error) {
	fams, err := st.RefreshFamilies(ctx, subject, clientID, now, limit)
	if err != nil {
		return nil, fmt.Errorf("authz: grants: %w", err)
	}
	out := make([]Grant, 0, len(fams))
	for _, f := range fams {
		g, err := grantOf(f)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// GrantByID returns the active grant (refresh-token family) id; the error
// wraps store.ErrNotFound when there is none (unknown, ended or expired).
func GrantByID(ctx context.Context, st FamilyStore, id string, now time.Time) (Grant, error) {
	f, err := st.RefreshFamily(ctx, id, now)
	if err != nil {
		return Grant{}, fmt.Errorf("authz: grant %q: %w", id, err)
	}
	return grantOf(f)
}

// grantOf reads the scopes and launch patient of a family's stored request.
func grantOf(f RefreshFamily) (Grant, error) {
	rec := f.Record
	g := Grant{ID: rec.RequestID, ClientID: rec.ClientID, Subject: rec.Subject, Created: f.Created, LastUsed: f.LastUsed}
	var sr storedRequest
	if err := json.Unmarshal(rec.Data, &sr); err != nil {
		return g, fmt.Errorf("authz: grant %s: stored request: %w", rec.RequestID, err)
	}
	sess := newSession()
	if err := json.Unmarshal(sr.Session, sess); err != nil {
		return g, fmt.Errorf("authz: grant %s: stored session: %w", rec.RequestID, err)
	}
	g.Scopes, g.Patient = sr.GrantedScopes, sess.patientID()
	return g, nil
}
