package tlspolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Refresh downloads again the cached policies that are due, so that a
// policy host that is down, or an attacker blocking it, when a policy
// expires does not leave the domain without one: RFC 8461 3.3 asks
// senders to refresh cached policies before they expire (once a day is
// its suggestion) and to alert the administrator when that fails, unless
// the cached mode is none (then the failure is logged at Info, otherwise
// at Warn).
//
// A policy is due once older than RefreshEvery, or than half its max_age
// if that is sooner. It is downloaded even when the TXT id is unchanged, which
// renews its max_age. When the TXT lookup fails, the download is tried
// anyway under the cached id: DNS being down must not let a policy
// expire. When the record is gone, the policy is left to expire (RFC 8461
// 8.3 is how a domain withdraws a policy). Policies no lookup has needed
// for Unused are not refreshed, and are deleted once expired.
//
// The caller runs Refresh periodically (an hour apart is plenty); it
// never waits by itself. Failures of single domains leave their cached
// policy as it was and are only logged; the error returned is the
// store's.
func (p *Policies) Refresh(ctx context.Context) error {
	now := p.now()
	every := p.opts.RefreshEvery
	// A superset of the due records: a policy past half its max_age but
	// not older than RefreshEvery has max_age <= 2*RefreshEvery, so less
	// than RefreshEvery left.
	recs, err := p.store.Stale(ctx, now.Add(-every), now.Add(every))
	if err != nil {
		return fmt.Errorf("tlspolicy: refresh: %w", err)
	}
	var errs []error
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("tlspolicy: refresh: %w", err))...)
		}
		if now.Sub(rec.LastUsed) > p.opts.Unused {
			if !now.Before(rec.Expires) {
				if err := p.store.Delete(ctx, rec.Domain); err != nil {
					errs = append(errs, fmt.Errorf("tlspolicy: refresh: delete %s: %w", rec.Domain, err))
				}
			}
			continue
		}
		age := now.Sub(rec.Fetched)
		if age <= every && age <= rec.Expires.Sub(rec.Fetched)/2 {
			continue
		}
		level := slog.LevelWarn
		if rec.Policy.Mode == ModeNone {
			level = slog.LevelInfo
		}
		id, err := p.fetcher.LookupID(ctx, rec.Domain)
		if errors.Is(err, ErrNoRecord) {
			p.log.Log(ctx, level, "mta-sts refresh: record gone, the cached policy is left to expire",
				"domain", rec.Domain, "expires", rec.Expires, "err", err)
			continue
		}
		if err != nil {
			p.log.Log(ctx, level, "mta-sts refresh: TXT lookup failed, fetching the policy anyway",
				"domain", rec.Domain, "err", err)
			id = rec.ID
		}
		f := p.fetch(ctx, rec.Domain, id, rec.LastUsed)
		if f.err != nil {
			p.log.Log(ctx, level, "mta-sts refresh failed, the cached policy stays",
				"domain", rec.Domain, "expires", rec.Expires, "err", f.err)
			continue
		}
		if f.storeErr != nil {
			errs = append(errs, f.storeErr)
		}
	}
	return errors.Join(errs...)
}
