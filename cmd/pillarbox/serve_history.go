package main

import (
	"context"
	"log/slog"
	"time"

	"pillarbox/mailbox"
)

// historyPruneEvery is how often serve deletes the delivery history's
// events older than history_days (and once at start).
const historyPruneEvery = 10 * time.Minute

// historyWorker prunes the delivery history in the background, off the
// delivery path.
func historyWorker(w *wiring) worker {
	return func(ctx context.Context) error {
		t := time.NewTicker(historyPruneEvery)
		defer t.Stop()
		return pruneHistory(ctx, w.svc, t.C, w.log)
	}
}

// pruneHistory prunes at once and at every tick, until ctx ends.
func pruneHistory(ctx context.Context, svc *mailbox.Service, ticks <-chan time.Time, log *slog.Logger) error {
	for {
		n, err := svc.PruneHistory(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("history: pruning old events", "err", err)
		case n > 0:
			log.Info("history: pruned old events", "events", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticks:
		}
	}
}
