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
	return pruneLoop(ctx, ticks, log, svc.PruneHistory, "history: pruning old events", "history: pruned old events", "events")
}

// pruneLoop runs prune at once and at every tick, until ctx ends,
// logging a failure as failed and what it removed as done, counted in
// unit. A failure is logged and retried at the next tick: the data it
// trims only grows meanwhile.
func pruneLoop(ctx context.Context, ticks <-chan time.Time, log *slog.Logger, prune func(context.Context) (int64, error), failed, done, unit string) error {
	for {
		n, err := prune(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error(failed, "err", err)
		case n > 0:
			log.Info(done, unit, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticks:
		}
	}
}
