package upstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// A cursor is the upstream's next link (its path below the base and its
// query), sealed with an HMAC over the link and the listing's seal: what
// was asked for and the caller's confinement. A cursor is only good for
// the listing and the confinement it was made for.
const (
	macLen       = 16
	maxCursorLen = 2048
)

// sealNext makes the cursor of an upstream next link ("" for none). The
// link must be below the upstream base (an upstream may name itself by
// another host, so only the path is compared).
func (s *Store) sealNext(link, seal string) (fhir.Cursor, error) {
	if link == "" {
		return "", nil
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", errors.New("its next link is not a URL")
	}
	rel, ok := strings.CutPrefix(u.Path, s.base.Path)
	if !ok || (rel != "" && rel[0] != '/') || hasDotSegment(rel) {
		// A dot segment (base/../admin) leaves the base too; openCursor
		// would refuse the cursor, so it is refused here, as the
		// upstream's fault, not the client's.
		return "", errors.New("its next link leaves its FHIR base")
	}
	payload := strings.TrimPrefix(rel, "/") + "?" + u.RawQuery
	c := base64.RawURLEncoding.EncodeToString(append(s.mac(seal, payload), payload...))
	if len(c) > maxCursorLen {
		return "", errors.New("its next link is too long to page through")
	}
	return fhir.Cursor(c), nil
}

// openCursor returns the upstream path and query of a cursor made by
// sealNext for the same seal; fhir.ErrInvalidCursor otherwise.
func (s *Store) openCursor(c fhir.Cursor, seal string) (path, rawQuery string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(string(c))
	if err != nil || len(b) < macLen {
		return "", "", fhir.ErrInvalidCursor
	}
	payload := string(b[macLen:])
	if !hmac.Equal(b[:macLen], s.mac(seal, payload)) {
		return "", "", fhir.ErrInvalidCursor
	}
	path, rawQuery, _ = strings.Cut(payload, "?")
	if hasDotSegment(path) {
		return "", "", fhir.ErrInvalidCursor
	}
	return path, rawQuery, nil
}

// hasDotSegment reports whether a path has a "." or ".." segment.
func hasDotSegment(path string) bool {
	for _, seg := range strings.Split(path, "/") {
		if seg == ".." || seg == "." {
			return true
		}
	}
	return false
}

func (s *Store) mac(seal, payload string) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte(seal))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)[:macLen]
}

// searchSeal binds a search cursor to the type, the parameters decided on
// and the caller's confinement.
func searchSeal(req fhir.SearchRequest) string {
	anyOf := make([][]string, len(req.AnyOf))
	for i, cs := range req.AnyOf {
		for _, c := range cs {
			k, v := c.KeyValue()
			anyOf[i] = append(anyOf[i], k+"="+v)
		}
	}
	b, _ := json.Marshal(struct {
		Kind     string
		Query    string
		Patients []string
		AnyOf    [][]string
		Reach    map[string]fhir.Reach
	}{"search", queryString(req.Query), req.Patients, anyOf, req.ChainReach})
	return string(b)
}

func queryString(q *search.Query) string {
	if q == nil {
		return ""
	}
	return q.Type + "?" + q.Values().Encode()
}

// historySeal marks history cursors.
const historySeal = "history"
