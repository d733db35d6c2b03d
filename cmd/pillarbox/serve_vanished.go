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
// before the store had it (migration 18), then indexes the part headers
// of messages kept before SEARCH TEXT read them (migration 25), and
// ends.
func headersWorker(w *wiring) worker {
	return func(ctx context.Context) error {
		for _, step := range []struct {
			run      func(context.Context) (int, error)
			failed   string
			finished string
		}{
			{w.svc.BackfillHeaders, "search: storing the header text of older messages", "search: stored the header text of older messages"},
			{w.svc.ReindexText, "search: indexing the part headers of older messages", "search: indexed the part headers of older messages"},
		} {
			n, err := step.run(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				w.log.Error(step.failed, "err", err)
				continue
			}
			if n > 0 {
				w.log.Info(step.finished, "messages", n)
			}
		}
		return nil
	}
}
