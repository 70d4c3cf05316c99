package console

import "net/http"

// settings is GET /admin/settings: the effective configuration. Secret
// settings reach this package as set/unset already (config.Secret).
func (s *Server) settings(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "console_settings", struct{ Settings []Setting }{s.cfg.Settings})
}
