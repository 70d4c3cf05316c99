package fhir

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smartgate/smartgate/fhir/search"
)

// Resource is one stored version of a resource.
type Resource struct {
	Type        string
	ID          string
	Version     int64
	LastUpdated time.Time
	// Deleted marks the version written by a delete; JSON is then empty.
	Deleted bool
	// JSON is the resource as stored (meta.versionId and meta.lastUpdated
	// set by the server); it is served as-is.
	JSON []byte
}

// Cursor is a position in a listing (a search or a history), made and read
// only by the store that returned it: this package carries it in the next
// link (_cursor) and never looks inside, compares or computes with it, so a
// backend encodes whatever it pages by (row numbers, sequence numbers, a
// snapshot's high-water mark). The empty Cursor is the start of a listing.
//
// A cursor comes back from the client and may be forged. A store refuses
// one it cannot read with an error wrapping ErrInvalidCursor (400), and
// applies the request's access restriction (Patients, AnyOf, ChainReach,
// Include) on every page whatever the cursor says: a cursor only says where
// a listing continues, never what it may show.
type Cursor string

// ErrInvalidCursor: a Cursor the store did not make, or made for another
// kind of listing (400).
var ErrInvalidCursor = errors.New("fhir: invalid paging cursor")

// Errors of a Store that forwards to another FHIR server (package
// fhir/upstream: proxy mode and the gateway), answered as a gateway does.
// Their messages are shown to the client: a Store keeps the upstream's
// address and transport details for its log.
var (
	// ErrBadGateway: the upstream failed, could not be reached, or
	// answered something that is not what was asked for (502).
	ErrBadGateway = errors.New("upstream FHIR server failed")
	// ErrGatewayTimeout: the upstream did not answer in time (504).
	ErrGatewayTimeout = errors.New("upstream FHIR server did not answer in time")
)

// UpstreamRefusal is a request the upstream FHIR server refused with a
// 4xx status other than not found and conflict (a resource it does not
// accept, an interaction it does not support): the client gets Status and
// the upstream's diagnostics.
type UpstreamRefusal struct {
	Status      int
	Diagnostics string
}

func (e *UpstreamRefusal) Error() string {
	return fmt.Sprintf("upstream FHIR server refused the request (%d): %s", e.Status, e.Diagnostics)
}

// Write is one new version to store.
type Write struct {
	Resource
	// Method is the HTTP method that made this version (POST, PUT, DELETE).
	Method string
	// Index holds the search index values of the version (none for a
	// delete); Patients the ids of the patients in whose compartment it is.
	Index    []search.Entry
	Patients []string
}

// Store is the storage the FHIR endpoint needs.
type Store interface {
	ResourceReader
	Searcher
	// TransactResources runs fn once, in one write transaction: every Put
	// in it is stored, or none is (when fn or the commit fails).
	//
	// The transaction is serialisable, and the store holds that, not its
	// callers: what fn reads through the Tx (Current, Match, Compartments,
	// LastContent) stays true until the commit, so that a decision fn
	// makes on it and the Puts that follow are one atomic step. The
	// conditional interactions rely on this: a conditional create
	// (If-None-Exist) Matches and then Puts only when nothing matched,
	// a conditional update or delete Matches to find its target, an
	// If-Match update compares Current's version; of N concurrent
	// conditional creates with the same criteria exactly one creates.
	// fn is never run again (it is not idempotent), so a backend that runs
	// write transactions concurrently cannot rely on retrying after a
	// serialisation failure: it must order them by a lock, taken before
	// the first read, on what fn may read or write (SQLite: BEGIN
	// IMMEDIATE, one writer at a time; PostgreSQL: e.g. a transaction-level
	// advisory lock per resource type taken by Match, Current and Put).
	TransactResources(ctx context.Context, fn func(tx Tx) error) error
}

// ResourceReader reads resources and their history.
type ResourceReader interface {
	// ReadResource returns the current version of a resource, also when that
	// version is a delete (Deleted). store.ErrNotFound if it never existed.
	ReadResource(ctx context.Context, typ, id string) (*Resource, error)
	// ReadResourceVersion returns one version; store.ErrNotFound if there is none.
	ReadResourceVersion(ctx context.Context, typ, id string, version int64) (*Resource, error)
	// ResourceHistory lists versions, newest first.
	ResourceHistory(ctx context.Context, q HistoryQuery) (*HistoryPage, error)
}

// HistoryQuery selects versions: of one resource (Type and ID), of one
// type (ID empty) or of the whole system (both empty).
type HistoryQuery struct {
	Type, ID string
	Since    time.Time // zero: no lower bound
	// Count is the page size (search.DefaultCount when 0 or above
	// search.MaxCount).
	Count int
	// Cursor continues a listing: HistoryPage.Next of the previous page
	// ("": start at the newest).
	Cursor Cursor
	// Patients, when non-nil, keeps only versions of resources currently in
	// the compartment of one of these patients.
	Patients []string
	// ExcludeTypes are types whose versions are left out, of the entries
	// and of Total: the endpoint's local types (Config.LocalTypes), which
	// the Store is never asked for, even when it holds some (an import).
	// A store that cannot leave them out of its count says Total -1.
	ExcludeTypes []string
}

// HistoryPage is one page of a history listing.
type HistoryPage struct {
	// Total counts the versions the query selects, on every page; -1 when
	// the store cannot tell (an upstream server that gave no total).
	Total   int
	Entries []HistoryEntry
	// Next is the Cursor of the next page, "" when this is the last. Later
	// pages hold only versions older than this page's: versions written
	// meanwhile are left out, so that pages neither repeat nor skip one.
	Next Cursor
}

// HistoryEntry is one version in a history listing.
type HistoryEntry struct {
	Resource
	Method string
}

// Searcher runs searches.
type Searcher interface {
	SearchResources(ctx context.Context, req SearchRequest) (*SearchResult, error)
}

// SearchRequest is a parsed search with the access restriction to apply.
type SearchRequest struct {
	Query *search.Query
	// Cursor continues a listing: SearchResult.Next of the previous page
	// ("": the first page). Match ignores it.
	Cursor Cursor
	// Patients, when non-nil, keeps only resources in the compartment of one
	// of these patients (an empty non-nil slice matches nothing).
	Patients []string
	// AnyOf, when non-empty, keeps only resources matching all clauses of
	// at least one of its elements (access restrictions).
	AnyOf [][]search.Clause
	// Now is the reference time for the ap prefix.
	Now time.Time
	// ChainReach limits, per target type of a chained parameter, the
	// referenced resources a chain may test to the caller's reach on that
	// type. Nil: no limit (access control off). A type missing from a
	// non-nil map reaches nothing.
	ChainReach map[string]Reach
	// Include, when set, decides each _include/_revinclude resource: one it
	// refuses is neither returned nor iterated from.
	Include func(Resource) bool
	// MaxIncluded caps the included resources of a page (0: no cap);
	// SearchResult.IncludedCut reports that the cap cut some off.
	MaxIncluded int
}

// Reach is the part of one resource type a caller may search: Patients
// and AnyOf as in SearchRequest.
type Reach struct {
	Patients []string
	AnyOf    [][]search.Clause
}

// SearchResult is one page of matches plus the resources they include.
type SearchResult struct {
	// Total counts all matches; -1 when not counted (_total=none).
	Total    int
	Matches  []Resource
	Included []Resource
	// IncludedCut: more resources would have been included than
	// SearchRequest.MaxIncluded.
	IncludedCut bool
	// Next is the Cursor of the next page, "" when this is the last. The
	// first page fixes a snapshot: resources created after it are left out
	// of later pages, so that pages do not shift while others write.
	Next Cursor
}

// Tx is the view of a write transaction.
type Tx interface {
	// Current is ReadResource inside the transaction.
	Current(ctx context.Context, typ, id string) (*Resource, error)
	// Match returns up to limit ids of current resources matching the
	// search (for conditional interactions and Bundle searches), with its
	// restrictions, in the store's default order. The answer holds until
	// the transaction ends (see TransactResources).
	Match(ctx context.Context, req SearchRequest, limit int) ([]string, error)
	// Compartments returns the patient compartments stored for a resource
	// (for a deleted resource: those of its last content).
	Compartments(ctx context.Context, typ, id string) ([]string, error)
	// LastContent returns the JSON of the newest version of a resource
	// that has content (not a delete), or nil when there is none.
	LastContent(ctx context.Context, typ, id string) ([]byte, error)
	// Put stores a new version: the current version of the resource, its
	// history entry, and replaces its index values and compartment
	// memberships. A version that exists already is store.ErrConflict.
	Put(ctx context.Context, w *Write) error
}
