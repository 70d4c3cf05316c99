// Package audit defines the audit record that every part of smartgate writes
// for security-relevant events (log-in, consent, token issue, refresh,
// revocation, OWin use, FHIR access). A record never holds a secret, a token
// or clinical content: only who, which client, which patient, what, the
// outcome, the address and the time.
package audit

import (
	"context"
	"time"
)

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
	Denied  = "denied"
)

// MaxTrace bounds Event.Trace in bytes; a longer trace is cut by the
// writer (fhir/access.Explanation.JSON) before it is recorded.
const MaxTrace = 4096

// Event is one audit record.
type Event struct {
	// ID is the store's number for the record, set when it is read back
	// (0 on a new event). The console names a record by it.
	ID        int64
	At        time.Time
	Kind      string // login, logout, consent, token, refresh, revoke, owin, fhir, admin, …
	Actor     string // user id or token subject
	ClientID  string
	Patient   string
	Action    string // grant type, FHIR interaction, admin action
	Resource  string // e.g. Observation/123 or Observation?category=…
	Scopes    string
	Outcome   string
	Detail    string // short reason, never a secret
	Address   string
	RequestID string
	// Trace is a refused FHIR request's decision, step by step, as JSON
	// (fhir/access.Explanation), at most MaxTrace bytes; "" otherwise.
	Trace string
}

// Recorder stores audit events. Implementations must be safe for concurrent
// use and must not block the caller on disk I/O for long.
type Recorder interface {
	Record(ctx context.Context, ev Event)
}

// Filter selects audit events for listing, newest first. Every field left
// zero selects everything; the fields that are set must all match.
type Filter struct {
	Kind  string
	Actor string
	// Since keeps records at or after it; Until, when set, records before
	// it.
	Since time.Time
	Until time.Time
	// Limit bounds the answer (the store's own bound applies above it).
	Limit int
	// Before, when positive, keeps records whose ID is below it: the
	// cursor of the next (older) page.
	Before int64
	// After, when positive, keeps records whose ID is above it: the
	// cursor of the previous (newer) page; the answer is still newest
	// first.
	After int64
	// Agent matches the actor or the client.
	Agent    string
	ClientID string
	// Patient matches the patient in context or a resource
	// Patient/{Patient} (and below it).
	Patient string
	// Resource matches the resource exactly or anything below it
	// (Observation/1 matches Observation/1/_history/2).
	Resource string
	Outcome  string
}
