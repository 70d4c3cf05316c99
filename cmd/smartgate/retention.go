package main

import (
	"context"
	"log/slog"
	"time"
)

// auditPruner deletes old audit records (store/sqlite).
type auditPruner interface {
	DeleteAuditBefore(ctx context.Context, t time.Time, batch int) (int64, error)
}

// auditPruneBatch is how many records one DELETE removes.
const auditPruneBatch = 1000

// pruneAudit deletes the audit records older than keep (--audit-retention)
// now and then every interval, until ctx ends.
func pruneAudit(ctx context.Context, st auditPruner, keep, interval time.Duration, now func() time.Time, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pruneAuditOnce(ctx, st, keep, now, logger)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneAuditOnce deletes the records older than keep and logs how many.
func pruneAuditOnce(ctx context.Context, st auditPruner, keep time.Duration, now func() time.Time, logger *slog.Logger) int64 {
	n, err := st.DeleteAuditBefore(ctx, now().Add(-keep), auditPruneBatch)
	switch {
	case err != nil && ctx.Err() == nil:
		logger.Warn("audit retention: deleting old records", "err", err, "deleted", n)
	case n > 0:
		logger.Info("audit retention: deleted old records", "deleted", n, "older_than", keep.String())
	}
	return n
}
