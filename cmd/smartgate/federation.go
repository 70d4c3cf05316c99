package main

// Federated log-in as newApp wires it (issue 12): the providers, the
// linker, the administrator-issued sign-in codes and the one password
// checker of the log-in form and the OWin grant. newFederation and the
// hooks that put these parts into other packages' configurations are in
// federation_parts.go.

import (
	"context"
	"io/fs"
	"log/slog"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/web"
)

// passwordChecker is the one check of local passwords, under the log-in
// throttle: the log-in form's web.PasswordChecker and the OWin grant's
// authz.AccountPasswords (idp/local's connector).
type passwordChecker interface {
	Authenticate(ctx context.Context, userName, password, address string) (*account.User, error)
}

// signInCodes issues (the users page) and redeems (/login/code) the
// administrator-issued sign-in codes (*account.SignInCodes).
type signInCodes interface {
	web.SignInCodeRedeemer
	Issue(ctx context.Context, userID, issuedBy string) (code string, expires time.Time, err error)
}

// federation holds the wired parts of federated log-in.
type federation struct {
	providers []idp.Provider
	linker    web.Linker
	codes     signInCodes
	passwords passwordChecker
}

// fedPages are what the providers page (/admin/providers) needs.
type fedPages struct {
	assets fs.FS
	audit  audit.Recorder
	logger *slog.Logger
	// httpBase and httpsBase are the listeners' public base URLs ("" for
	// one that is off): the page shows each provider's callback on each
	// ({base}/login/{id}/callback).
	httpBase, httpsBase string
}

// fedDeps are what newFederation builds from.
type fedDeps struct {
	cfg      *config.Config
	getenv   func(string) string
	db       database
	people   *account.People
	throttle *account.Throttle
	// authenticator checks local passwords (account.NewAuthenticator).
	authenticator *account.Authenticator
	audit         audit.Recorder
	logger        *slog.Logger
	// upstreamTimeout bounds every upstream call (<= 0: idp.DefaultTimeout).
	upstreamTimeout time.Duration
}
