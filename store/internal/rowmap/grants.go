package rowmap

import "github.com/smartgate/smartgate/authz"

// ScanFamily reads a row of each store's familySelect: a refresh token's
// signature, request_id, client_id, subject, access_signature, session_id,
// state_at, requested_at, expires_at and data, then its family's first
// issue and latest rotation.
func ScanFamily(row Scanner) (authz.RefreshFamily, error) {
	f := authz.RefreshFamily{Record: authz.TokenRecord{Kind: authz.KindRefresh, State: authz.StateActive}}
	r := &f.Record
	var stateAt, req, exp, created, used int64
	if err := row.Scan(&r.Signature, &r.RequestID, &r.ClientID, &r.Subject, &r.AccessSignature, &r.SessionID,
		&stateAt, &req, &exp, &r.Data, &created, &used); err != nil {
		return f, err
	}
	r.StateAt, r.RequestedAt, r.ExpiresAt = decodeTime(stateAt), decodeTime(req), decodeTime(exp)
	f.Created, f.LastUsed = decodeTime(created), decodeTime(used)
	return f, nil
}
