package console

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/idp"
)

// providerView is one provider's line on the dashboard.
type providerView struct {
	ID, Name string
	// Fetches: the connector fetches discovery; Checked when it last
	// did, Err what failed ("" when it worked).
	Fetches bool
	Checked string
	Err     string
}

type dashboardView struct {
	Now                                time.Time
	Clients, Users, Consents, Families int
	TokensIssued, LoginsFailed         int
	DBSize                             int64
	KeyCreated                         time.Time // newest active key's
	Providers                          []providerView
}

// dashboard is GET /admin.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	v, err := s.dashboardView(r.Context())
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	s.render(w, r, "console_dashboard", v)
}

func (s *Server) dashboardView(ctx context.Context) (dashboardView, error) {
	now := s.cfg.Now()
	since := now.Add(-24 * time.Hour)
	v := dashboardView{Now: now}
	c, a := s.cfg.Counts, s.cfg.Activity
	for _, q := range []struct {
		dst *int
		f   func() (int, error)
	}{
		{&v.Clients, func() (int, error) { return c.CountClients(ctx) }},
		{&v.Users, func() (int, error) { return c.CountUsers(ctx) }},
		{&v.Consents, func() (int, error) { return c.CountConsents(ctx) }},
		{&v.Families, func() (int, error) { return c.CountRefreshFamilies(ctx, now) }},
		{&v.LoginsFailed, func() (int, error) { return a.CountAudit(ctx, "login", audit.Failure, since) }},
	} {
		n, err := q.f()
		if err != nil {
			return v, fmt.Errorf("console: dashboard: %w", err)
		}
		*q.dst = n
	}
	// The audit kinds of issued tokens (authz's auditKind): authorization
	// code and client credentials, refresh, OWin.
	for _, kind := range []string{"token", "refresh", "owin"} {
		n, err := a.CountAudit(ctx, kind, audit.Success, since)
		if err != nil {
			return v, fmt.Errorf("console: dashboard: %w", err)
		}
		v.TokensIssued += n
	}
	var err error
	if v.DBSize, err = a.DatabaseSize(ctx); err != nil {
		return v, fmt.Errorf("console: dashboard: %w", err)
	}
	keys, err := s.cfg.Keys.Keys(ctx)
	if err != nil {
		return v, fmt.Errorf("console: dashboard: %w", err)
	}
	v.KeyCreated = newestActive(keys)
	for _, p := range s.cfg.Providers {
		pv := providerView{ID: p.ID, Name: p.Name}
		st := p.Status()
		_, pv.Fetches = p.Connector.(idp.StatusReporter)
		pv.Checked, pv.Err = utc(st.Checked), st.Err
		v.Providers = append(v.Providers, pv)
	}
	return v, nil
}

// newestActive is when the newest active key was made (zero: none).
func newestActive(keys []authz.KeyInfo) time.Time {
	var t time.Time
	for _, k := range keys {
		if k.Active() && k.CreatedAt.After(t) {
			t = k.CreatedAt
		}
	}
	return t
}
