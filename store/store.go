// Package store is smartgate's storage contract: the sentinel errors every
// backend returns and, in this comment, the rules every backend keeps.
//
// # What exists
//
// The interfaces that say what a package needs from storage are declared by
// that package, each with only the methods it calls: account.Users,
// account.Consents, account.Sessions and account.Pendings (local accounts
// and the browser's log-in), account.Directory (people and groups as SCIM
// and the people pages search them), authz.Store (clients, token records, the
// client-assertion jti cache, signing keys, settings), launch.Store (EHR
// launches), fhir.Store (FHIR resources, history and search) and the
// audit sink (InsertAudit, see audit.Sink). The backends implement all of
// them in one package each, over one database, so that one migration
// history, one connection pool and transactions across domains exist:
//
//   - store/sqlite: the embedded backend on modernc.org/sqlite (pure Go).
//   - store/postgres: on pgx, the same method sets, its own SQL (issue 16;
//     built domain by domain, its conformance test lists the ones done).
//   - store/storetest: the conformance suite every backend passes, one
//     entry point per domain (RunSettings, RunAudit, RunAccounts,
//     RunSessions, RunClients, RunTokens, RunLaunch, RunFHIR,
//     RunDirectory) and
//     RunTransactions for the tests that race concurrent callers. A
//     backend's test file calls each entry point with a function that
//     opens an empty store; a backend on an outside database skips itself
//     when the database's address is not set (SMART_TEST_POSTGRES_URL).
//
// # The rules
//
// Errors. A missing record is ErrNotFound; a write that collides with an
// existing record (a unique key) or with a concurrent change (a version or
// state that moved on) is ErrConflict; a backend that cannot take the
// operation right now (disk full, I/O error, lock timeout, connection lost)
// returns ErrUnavailable and leaves the data consistent. Backends wrap the
// sentinel and keep their driver's error in the chain (fmt.Errorf with two
// %w), so callers test with errors.Is and logs keep the cause.
//
// Updates never lose a concurrent change. A record is either updated with
// a version check (account.User's Meta.Version: UpdateUser with a stale
// version is ErrConflict) or with an update function that the backend runs
// on the current record inside its write transaction, dex's
// UpdateClient(ctx, id, func(old) (new, error)) style: the function must
// have no side effects and should change fields of old rather than build a
// new value, so that fields added later survive. Single-use operations
// (UseJTI, UseLaunch, TakePending, SetTokenState from a given state) are
// one atomic step: of concurrent callers exactly one succeeds.
//
// Writers are serialisable. Every write method, and each transaction of
// fhir.Store's TransactResources, behaves as if it ran alone: what a
// transaction reads (a conditional create's search, a version check) is
// still true when it commits. Conditional create, update and delete rely
// on this (fhir/store.go states the FHIR part). store/sqlite keeps the rule
// with one writer connection that opens IMMEDIATE transactions; a backend
// with concurrent writers must keep it itself (PostgreSQL: SERIALIZABLE
// transactions retried on serialisation failure, or row and advisory
// locks), and RunTransactions tests it.
//
// Durability. A write method returns nil only once its change is committed
// and durable; a failed one leaves nothing behind.
//
// Time. Instants are kept to the microsecond (PostgreSQL's timestamptz
// precision) and returned in UTC; anything finer may be dropped, so tests
// compare times with storetest.SameInstant. The zero time.Time means unset
// (a session not ended, a launch not used, a key not retired) and reads
// back as the zero time. Expiry comparisons run in the backend on the
// stored instants. store/sqlite stores INTEGER Unix microseconds, 0 for
// unset.
//
// Secrets. A backend stores what it is given; callers hash client secrets,
// registration access tokens, token signatures and launch values first.
// Tests prove it with a backend's inspection methods (store/sqlite's
// TablesHolding), which are not part of any storage interface.
//
// # Migrations
//
// Each backend owns its schema history, written by hand in its own SQL
// dialect, in a migrations folder inside the backend's package and
// embedded in it: store/sqlite/migrations now, store/postgres/migrations
// next (hydra's persistence/sql/migrations keeps one file per step and
// dialect likewise). Files are named NNNN_name.sql, numbered 1..n without
// gaps, and applied in order at Open in one transaction; a database whose
// schema is newer than the binary is refused. A step that changes the data
// model gets the same number and name in every dialect's folder, so that a
// schema version means one data model whatever the database. A migration
// that changes existing rows is proved by a test that builds a database at
// the previous version, migrates it and reads the rows back through the
// store's methods (store/sqlite/migrate_*_test.go).
package store

import "errors"

var (
	// ErrNotFound is returned when the requested record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a write collides with an existing record
	// (unique key) or a concurrent change (version mismatch).
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable is returned when the backend cannot take the write
	// right now (disk full, I/O error, database locked for too long). HTTP
	// layers answer 503; the database is left consistent.
	ErrUnavailable = errors.New("store: unavailable")
)
