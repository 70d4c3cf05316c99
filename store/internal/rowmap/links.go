package rowmap

import "github.com/smartgate/smartgate/account"

// LinkColumns are the columns of identity_links, in the order of LinkArgs
// and ScanLink.
const LinkColumns = `issuer, subject, user_id, provider, email, created, last_login`

// LinkArgs are the values of LinkColumns for l.
func LinkArgs(l *account.Link) []any {
	return []any{l.Issuer, l.Subject, l.UserID, l.Provider, l.Email, encodeTime(l.Created), encodeTime(l.LastLogin)}
}

// ScanLink reads a row of LinkColumns.
func ScanLink(s Scanner) (account.Link, error) {
	var l account.Link
	var created, last int64
	if err := s.Scan(&l.Issuer, &l.Subject, &l.UserID, &l.Provider, &l.Email, &created, &last); err != nil {
		return account.Link{}, err
	}
	l.Created, l.LastLogin = decodeTime(created), decodeTime(last)
	return l, nil
}
