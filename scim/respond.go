package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// writeJSON answers v with status in the SCIM media type.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("scim: encode answer: %w", err)
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// toDoc renders a resource as a JSON object (for projection and PATCH).
func toDoc(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("scim: encode resource: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("scim: decode resource: %w", err)
	}
	return doc, nil
}

// writeResource answers one resource with its ETag (and Location when
// location is set), projected by the request's attributes and
// excludedAttributes.
func writeResource(q *request, status int, version int64, location string, v any, proj projection) error {
	doc, err := toDoc(v)
	if err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("ETag", etag(version))
	if location != "" {
		h.Set("Location", location)
	}
	return writeJSON(q.w, status, proj.apply(doc))
}

// ifMatch checks the If-Match header against the current version: absent
// or "*" passes, a list passes when one entry names the version (weak
// comparison, RFC 9110 §13.1.1); otherwise 412.
func ifMatch(q *request, version int64) error {
	v := q.Header.Get("If-Match")
	if v == "" || matchesETag(v, version) {
		return nil
	}
	return errorf(http.StatusPreconditionFailed, "", "the resource has changed: its version is %s, not %s", etag(version), v)
}

// hasIfMatch reports whether the request is conditional on a version.
func hasIfMatch(q *request) bool { return q.Header.Get("If-Match") != "" }

// notModified answers 304 and reports true when If-None-Match names the
// current version (or is "*").
func notModified(q *request, version int64) bool {
	v := q.Header.Get("If-None-Match")
	if v == "" || !matchesETag(v, version) {
		return false
	}
	q.w.Header().Set("ETag", etag(version))
	q.w.WriteHeader(http.StatusNotModified)
	return true
}

// matchesETag reports whether the header list of entity tags names
// version, or is "*".
func matchesETag(list string, version int64) bool {
	want := strconv.Quote(strconv.FormatInt(version, 10))
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// preconditionOrConflict is the answer to a store conflict on a change
// that was checked against version: 412 when the client made the request
// conditional, else 409 (the resource changed while it was being changed).
func preconditionOrConflict(q *request, kind string) *Error {
	if hasIfMatch(q) {
		return errorf(http.StatusPreconditionFailed, "", "the %s changed while the request ran; read it again", kind)
	}
	return errorf(http.StatusConflict, "", "the %s changed while the request ran; retry", kind)
}
