// Package patch applies SCIM PATCH requests (RFC 7644 §3.5.2) to a
// resource's JSON document, as decoded from a request and as the SCIM
// server renders a stored resource: core attributes at the top, each
// extension's under its schema URN. It follows the one attribute table
// of package scim/schema and the paths of package scim/filter, and
// accepts what Entra ID and Okta send (capitalised op names, path-less
// values with dotted and URN-qualified keys, "True"/"False" strings for
// booleans).
package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/smartgate/smartgate/scim/schema"
)

// The scimType values of RFC 7644 §3.12 that Apply and Decode give.
const (
	Mutability    = "mutability"
	InvalidPath   = "invalidPath"
	NoTarget      = "noTarget"
	InvalidValue  = "invalidValue"
	InvalidSyntax = "invalidSyntax"
)

// Error is a PATCH failure; the SCIM server answers 400 with ScimType.
type Error struct {
	ScimType string
	Detail   string // safe to show the client: names attributes, not values
}

func (e *Error) Error() string { return "scim patch: " + e.ScimType + ": " + e.Detail }

func fail(scimType, format string, args ...any) error {
	return &Error{ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// ScimType returns the scimType of err, or "" when err is no *Error.
func ScimType(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ScimType
	}
	return ""
}

// Operation is one PATCH operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
	// HasValue tells a JSON null or absent value apart (Decode sets it).
	HasValue bool `json:"-"`
}

// request is the PatchOp message (RFC 7644 §3.5.2).
type request struct {
	Schemas    []string          `json:"schemas"`
	Operations []json.RawMessage `json:"Operations"`
}

// Decode reads a PatchOp request body: its schemas must name the PatchOp
// message and it must hold at least one operation, each with an op of
// add, remove or replace in any case.
func Decode(body []byte) ([]Operation, error) {
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fail(InvalidSyntax, "the body is not a PatchOp message")
	}
	if !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, schema.PatchOpURN) }) {
		return nil, fail(InvalidSyntax, "schemas must contain %s", schema.PatchOpURN)
	}
	if len(req.Operations) == 0 {
		return nil, fail(InvalidSyntax, "no Operations")
	}
	ops := make([]Operation, 0, len(req.Operations))
	for i, raw := range req.Operations {
		var o struct {
			Op    string          `json:"op"`
			Path  *string         `json:"path"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fail(InvalidSyntax, "operation %d is not an object with op, path and value", i)
		}
		op := Operation{Op: o.Op}
		if o.Path != nil {
			op.Path = *o.Path
		}
		if len(o.Value) > 0 && !bytes.Equal(o.Value, []byte("null")) {
			op.HasValue = true
			if err := json.Unmarshal(o.Value, &op.Value); err != nil {
				return nil, fail(InvalidSyntax, "operation %d: bad value", i)
			}
		}
		if _, err := opName(op.Op); err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

type opKind int

const (
	opAdd opKind = iota
	opRemove
	opReplace
)

func opName(s string) (opKind, error) {
	switch strings.ToLower(s) {
	case "add":
		return opAdd, nil
	case "remove":
		return opRemove, nil
	case "replace":
		return opReplace, nil
	}
	return 0, fail(InvalidSyntax, "op %q is not add, remove or replace", s)
}

// Apply applies ops in order to a copy of doc, a resource of type r, and
// returns the copy. It is all or nothing: on an error (an *Error) doc is
// unchanged and nothing is returned.
func Apply(r *schema.Resource, doc map[string]any, ops []Operation) (map[string]any, error) {
	cp, _ := clone(doc).(map[string]any)
	if cp == nil {
		cp = map[string]any{}
	}
	e := &engine{res: r, doc: cp}
	for i, op := range ops {
		if err := e.apply(op); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				return nil, &Error{ScimType: pe.ScimType, Detail: fmt.Sprintf("operation %d: %s", i, pe.Detail)}
			}
			return nil, err
		}
	}
	return e.doc, nil
}

// clone deep-copies a decoded JSON value.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = clone(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = clone(x)
		}
		return s
	}
	return v
}
