package main

import (
	"context"
	"io"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/launch"
	"github.com/smartgate/smartgate/scim/scimauth"
	"github.com/smartgate/smartgate/web/certificates"
	"github.com/smartgate/smartgate/web/console"
)

// database is everything the server asks of its store: the interfaces its
// packages declare, which store/sqlite and store/postgres both implement
// (the --database setting chooses; store/storetest checks both).
type database interface {
	io.Closer
	Ping(ctx context.Context) error
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
	SettingOrCreate(ctx context.Context, key string, create func() ([]byte, error)) ([]byte, error)
	InsertAudit(ctx context.Context, evs []audit.Event) error
	AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error)
	AuditEvent(ctx context.Context, id int64) (audit.Event, error)
	DeleteAuditBefore(ctx context.Context, t time.Time, batch int) (int64, error)
	account.Directory
	account.Consents
	account.Sessions
	account.Pendings
	account.SecondFactorStore
	account.Lockouts
	account.Links
	account.SignInCodeStore
	authz.Store
	authz.FamilyStore
	ConsentsOf(ctx context.Context, userID, clientID string, limit int) ([]account.Consent, error)
	fhir.Store
	launch.Store
	scimauth.TokenStore
	certificates.Store
	clientcert.AllowList
	CountTrustedCertificates(ctx context.Context) (int, error)
	console.Counts
	console.Activity
}
