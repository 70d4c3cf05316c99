package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/smartgate/smartgate/scim/schema"
)

// Schema URNs of the resources (RFC 7643 §8.7 and smartgate's extensions).
const (
	URNUser       = schema.UserURN
	URNGroup      = schema.GroupURN
	URNEnterprise = schema.EnterpriseUserURN
	URNSmartUser  = schema.SmartgateUserURN
	URNSmartGroup = schema.SmartgateGroupURN
)

// flexBool is a SCIM boolean that also accepts the strings "true" and
// "false" in any case: Entra ID sends "active":"False".
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch strings.ToLower(string(bytes.TrimSpace(data))) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`:
		*b = false
	default:
		return fmt.Errorf("%s is not a boolean", data)
	}
	return nil
}

// metaJSON is the meta attribute (RFC 7643 §3.1), output only.
type metaJSON struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Version      string `json:"version"`
	Location     string `json:"location"`
}

// multiJSON is one value of a multi-valued attribute with value, type,
// primary and display (emails, phoneNumbers, groups, members, manager).
type multiJSON struct {
	Value   string    `json:"value"`
	Type    string    `json:"type,omitempty"`
	Primary *flexBool `json:"primary,omitempty"`
	Display string    `json:"display,omitempty"`
	Ref     string    `json:"$ref,omitempty"`
}

// bodyError turns a decoding error into the SCIM answer: malformed JSON is
// invalidSyntax; an attribute the schema does not have, or a value of the
// wrong type, is invalidValue (RFC 7644 §3.12: "not compatible with the
// operation or attribute type, or resource schema").
func bodyError(err error) *Error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "", "the request body is larger than %d bytes", mbe.Limit)
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, typeInvalidSyntax, "the request body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errorf(http.StatusBadRequest, typeInvalidSyntax, "the request body must be a JSON object")
		}
		return errorf(http.StatusBadRequest, typeInvalidValue, "attribute %q: a %s is not allowed here", field, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return errorf(http.StatusBadRequest, typeInvalidValue, "unknown attribute %s", name)
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errorf(http.StatusBadRequest, typeInvalidValue, "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// readBody reads a request body of at most max bytes, after checking its
// media type: application/scim+json or application/json (or none).
func readBody(q *request, max int64) ([]byte, error) {
	if ct := q.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt != "application/scim+json" && mt != "application/json" {
			return nil, errorf(http.StatusUnsupportedMediaType, "", "send application/scim+json, not %s", mt)
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(q.w, q.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, bodyError(err)
		}
		return nil, errorf(http.StatusBadRequest, typeInvalidSyntax, "cannot read the request body")
	}
	return data, nil
}

// decodeStrict decodes one JSON object into v, refusing attributes v does
// not have (matched case-insensitively, RFC 7643 §2.1) and trailing data.
func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return bodyError(err)
	}
	if d.More() {
		return errorf(http.StatusBadRequest, typeInvalidSyntax, "the request body holds more than one JSON value")
	}
	if _, err := d.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, typeInvalidSyntax, "the request body holds more than one JSON value")
	}
	return nil
}

// checkSchemas checks the schemas attribute of a resource: it must name
// core and may name only known extensions; an unknown URN is invalidSyntax
// (the message does not follow a schema smartgate has).
func checkSchemas(got []string, core string, extensions ...string) error {
	if len(got) == 0 {
		return errorf(http.StatusBadRequest, typeInvalidSyntax, "the schemas attribute is required and must name %s", core)
	}
	hasCore := false
	for _, u := range got {
		switch {
		case strings.EqualFold(u, core):
			hasCore = true
		case containsFold(extensions, u):
		default:
			return errorf(http.StatusBadRequest, typeInvalidSyntax, "unknown schema %q", u)
		}
	}
	if !hasCore {
		return errorf(http.StatusBadRequest, typeInvalidSyntax, "the schemas attribute must name %s", core)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// timeString formats an instant for meta (RFC 7643 §2.3.5, xsd:dateTime).
func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
