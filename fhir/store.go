package fhir

import (
	"context"
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
	// Row is the store's row number of the resource (search paging).
	Row int64
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
	// TransactResources runs fn in one write transaction: every Put in it is stored,
	// or none is (when fn or the commit fails).
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
	Count    int
	// Before continues a listing: only entries older than this sequence
	// number (0: start at the newest).
	Before int64
	// Patients, when non-nil, keeps only versions of resources currently in
	// the compartment of one of these patients.
	Patients []string
}

// HistoryPage is one page of a history listing.
type HistoryPage struct {
	Total   int
	Entries []HistoryEntry
	// Next is the Before value of the next page, 0 when this is the last.
	Next int64
}

// HistoryEntry is one version in a history listing.
type HistoryEntry struct {
	Resource
	Method string
	Seq    int64
}

// Searcher runs searches.
type Searcher interface {
	SearchResources(ctx context.Context, req SearchRequest) (*SearchResult, error)
}

// SearchRequest is a parsed search with the access restriction to apply.
type SearchRequest struct {
	Query *search.Query
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
	// NextCursor/NextOffset continue the listing (HasNext reports whether
	// there is another page); Snapshot bounds later pages.
	HasNext    bool
	NextCursor int64
	NextOffset int
	Snapshot   int64
}

// Tx is the view of a write transaction.
type Tx interface {
	// Current is ReadResource inside the transaction.
	Current(ctx context.Context, typ, id string) (*Resource, error)
	// Match returns up to limit ids of current resources matching the
	// search (for conditional interactions), with its restrictions.
	Match(ctx context.Context, req SearchRequest, limit int) ([]string, error)
	// Compartments returns the patient compartments stored for a resource
	// (for a deleted resource: those of its last content).
	Compartments(ctx context.Context, typ, id string) ([]string, error)
	// LastContent returns the JSON of the newest version of a resource
	// that has content (not a delete), or nil when there is none.
	LastContent(ctx context.Context, typ, id string) ([]byte, error)
	// Put stores a new version: the resource row, its history entry, and
	// replaces its index values and compartment memberships. It returns the
	// row number.
	Put(ctx context.Context, w *Write) error
}
