package main

import (
	"context"
	"log/slog"
	"time"

	"pillarbox/mailbox"
)

// vanishedPruneEvery is how often serve trims the expunged UIDs that
// folders remember for QRESYNC (and once at start). A folder exceeds
// its keep only by what was expunged meanwhile, so hourly is plenty.
const vanishedPruneEvery = time.Hour

// vanishedWorker trims the folders' remembered expunges in the
// background, off the delivery path.
func vanishedWorker(w *wiring) worker {
	return func(ctx context.Context) error {
		t := time.NewTicker(vanishedPruneEvery)
		defer t.Stop()
		return pruneVanished(ctx, w.svc, t.C, w.log)
	}
}

// pruneVanished prunes at once and at every tick, until ctx ends.
func pruneVanished(ctx context.Context, svc *mailbox.Service, ticks <-chan time.Time, log *slog.Logger) error {
	return pruneLoop(ctx, ticks, log, svc.PruneVanished, "qresync: forgetting old expunges", "qresync: forgot old expunges", "uids")
}

// headersWorker stores, once at start, the header text of messages kept
// before the store had it (migration 18), and then ends.
func headersWorker(w *wiring) worker {
	return func(ctx context.Context) error {
		n, err := w.svc.BackfillHeaders(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.log.Error("search: storing the header text of older messages", "err", err)
			return nil
		}
		if n > 0 {
			w.log.Info("search: stored the header text of older messages", "messages", n)
		}
		return nil
	}
}
