package main

import (
	"context"
	"log/slog"
	"time"

	"pillarbox/mailbox"
)

// dkimCheckEvery is how often serve looks up the records of pending DKIM
// keys (`dkim rotate`); it also looks once at start.
const dkimCheckEvery = 10 * time.Minute

// dkimWorker switches DKIM keys in the background once their records
// are seen in DNS.
func dkimWorker(w *wiring) worker {
	published := keyPublished(newResolver(w.cfg.DNS.Resolver))
	return func(ctx context.Context) error {
		t := time.NewTicker(dkimCheckEvery)
		defer t.Stop()
		return watchDKIM(ctx, w.svc, published, t.C, w.log)
	}
}

// watchDKIM runs PromoteDKIM at once and at every tick, until ctx ends.
// A rotation still waiting is logged when what it waits for changes, not
// at every tick.
func watchDKIM(ctx context.Context, svc *mailbox.Service, published mailbox.KeyPublishedFunc, ticks <-chan time.Time, log *slog.Logger) error {
	waiting := map[string]string{} // domain -> selectors last logged as missing
	for {
		checks, err := svc.PromoteDKIM(ctx, published)
		if err != nil && ctx.Err() == nil {
			log.Error("dkim: checking pending keys", "err", err)
		}
		seen := map[string]bool{}
		for _, c := range checks {
			seen[c.Domain] = true
			switch {
			case c.Err != nil:
				log.Warn("dkim: looking up the new keys' records", "domain", c.Domain, "err", c.Err)
			case c.Promoted:
				delete(waiting, c.Domain)
				log.Info("dkim: new keys seen in DNS, now signing", "domain", c.Domain,
					"active", selectorList(c.Seen), "retired", selectorList(c.Retired), "keep_retired_until", retiredUntil(c.Retired))
			default:
				if m := selectorList(c.Missing); waiting[c.Domain] != m {
					waiting[c.Domain] = m
					log.Info("dkim: rotation waiting for its records in DNS; the current keys keep signing", "domain", c.Domain, "missing", m)
				}
			}
		}
		for d := range waiting {
			if !seen[d] {
				delete(waiting, d) // cancelled
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticks:
		}
	}
}
