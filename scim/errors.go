package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// The scimType keywords of RFC 7644 §3.12 (Table 9) this layer gives;
// package patch gives mutability, invalidPath and noTarget.
const (
	typeInvalidFilter = "invalidFilter"
	typeUniqueness    = "uniqueness"
	typeInvalidSyntax = "invalidSyntax"
	typeInvalidValue  = "invalidValue"
)

// Error is an answer in the RFC 7644 §3.12 error format: an HTTP status,
// an optional scimType and a detail for the client. Handlers return it;
// the server writes it once, at the boundary.
type Error struct {
	Status   int
	SCIMType string
	Detail   string
	header   http.Header
	cause    error // for the log, never the client
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("scim %d %s: %s: %v", e.Status, e.SCIMType, e.Detail, e.cause)
	}
	return fmt.Sprintf("scim %d %s: %s", e.Status, e.SCIMType, e.Detail)
}

func (e *Error) Unwrap() error { return e.cause }

// errorf returns an *Error with a formatted detail.
func errorf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, SCIMType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// errUnknownRole is the answer to a role that is not one of account.Roles.
func errUnknownRole(r string) *Error {
	return errorf(http.StatusBadRequest, typeInvalidValue, "roles: unknown role %q (known: %s)", r, strings.Join(account.Roles(), ", "))
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	SCIMType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// writeError answers e in the SCIM error format.
func writeError(w http.ResponseWriter, e *Error) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	body, _ := json.Marshal(errorBody{
		Schemas:  []string{URNError},
		Status:   strconv.Itoa(e.Status),
		SCIMType: e.SCIMType,
		Detail:   e.Detail,
	})
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	w.Write(append(body, '\n'))
}

// what names the resource an operation was about, for the store errors
// translated by storeError.
type what struct {
	kind string // "User", "Group"
	id   string
}

// storeError translates an error of the store or of People into the SCIM
// answer: not found 404, a collision 409 uniqueness, the last
// administrator 409, the store unavailable 503, a rejected value 400
// invalidValue; anything else is a 500 whose cause is only logged.
func storeError(err error, w what) *Error {
	var se *Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s %q not found", w.kind, w.id), cause: err}
	case errors.Is(err, account.ErrLastAdmin):
		return &Error{Status: http.StatusConflict, Detail: "the last active administrator cannot be deactivated, deleted or demoted", cause: err}
	case errors.Is(err, account.ErrPatientLinked):
		return &Error{Status: http.StatusConflict, SCIMType: typeUniqueness,
			Detail: "another User is linked to this Patient (fhirUser): a Patient may be linked to one account only", cause: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, SCIMType: typeUniqueness, Detail: conflictDetail(w.kind), cause: err}
	case errors.Is(err, store.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Detail: "the store is unavailable, try again later",
			header: http.Header{"Retry-After": {"5"}}, cause: err}
	case errors.Is(err, account.ErrWeakPassword):
		return &Error{Status: http.StatusBadRequest, SCIMType: typeInvalidValue, Detail: "password: " + err.Error(), cause: err}
	case errors.Is(err, account.ErrInvalidUserName):
		return &Error{Status: http.StatusBadRequest, SCIMType: typeInvalidValue, Detail: "userName: " + err.Error(), cause: err}
	case errors.Is(err, account.ErrInvalidUser):
		return &Error{Status: http.StatusBadRequest, SCIMType: typeInvalidValue, Detail: err.Error(), cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "internal error", cause: err}
}

func conflictDetail(kind string) string {
	if kind == "Group" {
		return "a group with this displayName already exists"
	}
	return "a user with this userName already exists"
}
