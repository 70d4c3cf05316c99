package rowmap

import "github.com/smartgate/smartgate/scim/scimauth"

// ProvisioningColumns are the columns of provisioning_tokens, in the order
// of ProvisioningArgs and ScanProvisioningToken.
const ProvisioningColumns = `id, client_id, label, token_hash, created_by, created_at, last_used_at, revoked_at`

// ProvisioningArgs are the values of ProvisioningColumns for t.
func ProvisioningArgs(t scimauth.Token) []any {
	return []any{t.ID, t.ClientID, t.Label, t.Hash, t.CreatedBy, encodeTime(t.CreatedAt), encodeTime(t.LastUsedAt), encodeTime(t.RevokedAt)}
}

// ScanProvisioningToken reads a row of ProvisioningColumns.
func ScanProvisioningToken(s Scanner) (scimauth.Token, error) {
	var t scimauth.Token
	var created, used, revoked int64
	if err := s.Scan(&t.ID, &t.ClientID, &t.Label, &t.Hash, &t.CreatedBy, &created, &used, &revoked); err != nil {
		return scimauth.Token{}, err
	}
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = decodeTime(created), decodeTime(used), decodeTime(revoked)
	return t, nil
}
