package audit

import (
	"context"
	"log/slog"
)

// Log is a Recorder that writes each event as one structured log line
// (message "audit"), for a process without a database: the gateway.
type Log struct{ Logger *slog.Logger }

// Record implements Recorder.
func (l Log) Record(ctx context.Context, ev Event) {
	l.Logger.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("kind", ev.Kind), slog.String("actor", ev.Actor), slog.String("client_id", ev.ClientID),
		slog.String("patient", ev.Patient), slog.String("action", ev.Action), slog.String("resource", ev.Resource),
		slog.String("scopes", ev.Scopes), slog.String("outcome", ev.Outcome), slog.String("detail", ev.Detail),
		slog.String("address", ev.Address), slog.String("request_id", ev.RequestID))
}
