package console

import (
	"net/http"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/web"
)

type keyView struct {
	ID, Alg    string
	Active     bool
	Created    string
	Retired    string
	LeavesJWKS string
	// Gone: the key has left the JWKS (it is deleted at the next
	// maintenance).
	Gone bool
}

type keysView struct {
	CSRF    string
	Message string
	Keys    []keyView
}

// keys is GET /admin/keys.
func (s *Server) keys(w http.ResponseWriter, r *http.Request) {
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	keys, err := s.cfg.Keys.Keys(r.Context())
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	now := s.cfg.Now()
	v := keysView{CSRF: csrf}
	if r.URL.Query().Get("rotated") == "1" {
		v.Message = rotatedMessage
	}
	for _, k := range keys {
		v.Keys = append(v.Keys, keyView{ID: k.ID, Alg: k.Alg, Active: k.Active(), Created: utc(k.CreatedAt),
			Retired: utc(k.RetiredAt), LeavesJWKS: utc(k.LeavesJWKS), Gone: !k.Active() && !k.LeavesJWKS.After(now)})
	}
	s.render(w, r, "console_keys", v)
}

// rotate is POST /admin/keys/rotate (RequireRole has checked the CSRF
// token): new keys, signing at once, audited, then 303 to the list.
func (s *Server) rotate(w http.ResponseWriter, r *http.Request) {
	ev := audit.Event{At: s.cfg.Now(), Kind: "admin", Action: "keys.rotate", Outcome: audit.Success,
		Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(r.Context())}
	if u, ok := web.UserFrom(r.Context()); ok {
		ev.Actor = u.ID
	}
	if err := s.cfg.Keys.RotateKeys(r.Context()); err != nil {
		ev.Outcome, ev.Detail = audit.Failure, "the keys could not be rotated"
		s.record(r, ev)
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "The keys could not be rotated. Please try again.", err)
		return
	}
	s.record(r, ev)
	w.Header().Set("Location", KeysPath+"?rotated=1")
	w.WriteHeader(http.StatusSeeOther)
}

func (s *Server) record(r *http.Request, ev audit.Event) {
	if s.cfg.Audit != nil {
		s.cfg.Audit.Record(r.Context(), ev)
	}
}
