package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"pillarbox/mailbox"
	"pillarbox/smtp/msgauth"
)

// cmdDKIM rotates a domain's DKIM keys: `rotate` makes the new pair,
// `check` looks their records up and switches once all are seen (serve
// does the same in the background), `cancel` drops a waiting rotation.
func cmdDKIM(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("dkim")
	sub, pos, err := splitSubcommand(fs, args, "rotate, check, cancel", "rotate", "check", "cancel")
	if err != nil {
		return err
	}
	if err := subArgCount("dkim", sub, pos, map[string]subUsage{
		"rotate": {1, "pillarbox dkim rotate NAME"},
		"check":  {0, "pillarbox dkim check"},
		"cancel": {1, "pillarbox dkim cancel NAME"},
	}); err != nil {
		return err
	}
	cfg, db, svc, err := openService(*cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "rotate":
		var rot mailbox.DKIMRotation
		if rot, err = svc.RotateDKIM(ctx, pos[0]); err == nil {
			err = printRotation(e.stdout, rot)
		}
	case "check":
		var checks []mailbox.DKIMCheck
		if checks, err = svc.PromoteDKIM(ctx, keyPublished(newResolver(cfg.DNS.Resolver))); err == nil {
			err = printDKIMChecks(e.stdout, checks)
		}
	case "cancel":
		var gone []mailbox.DKIMKey
		if gone, err = svc.CancelDKIMRotation(ctx, pos[0]); err == nil {
			fmt.Fprintf(e.stdout, "cancelled the rotation of %s: %s deleted; remove their records if you published them\n",
				gone[0].Domain, selectorList(gone))
		}
	}
	if err != nil {
		return fmt.Errorf("dkim %s: %w", sub, err)
	}
	return nil
}

// keyLookupTimeout bounds one DKIM key record lookup.
const keyLookupTimeout = 10 * time.Second

// keyPublished looks a key's record up through r, as a receiver would.
func keyPublished(r *net.Resolver) mailbox.KeyPublishedFunc {
	return func(ctx context.Context, k mailbox.DKIMKey) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, keyLookupTimeout)
		defer cancel()
		return msgauth.KeyPublished(ctx, r, k.Domain, k.Selector, k.Public())
	}
}

func selectorList(keys []mailbox.DKIMKey) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.Selector
	}
	return strings.Join(s, ", ")
}

// printRotation says what to publish, and what may go.
func printRotation(w io.Writer, rot mailbox.DKIMRotation) error {
	recs, err := dkimRecords(rot.Domain, rot.Pending)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "new DKIM keys for %s; publish these records:\n", rot.Domain)
	for _, r := range recs {
		fmt.Fprintln(w, r.zoneLine())
	}
	fmt.Fprintf(w, "the current keys sign until both records are seen in DNS: serve looks every %s, or run 'pillarbox dkim check'\n", dkimCheckEvery)
	if len(rot.Forgotten) > 0 {
		fmt.Fprintf(w, "retired keys forgotten, whose records can be removed: %s\n", selectorList(rot.Forgotten))
	}
	return nil
}

// printDKIMChecks reports each waiting rotation; an error if a lookup
// failed, so that scripts notice.
func printDKIMChecks(w io.Writer, checks []mailbox.DKIMCheck) error {
	if len(checks) == 0 {
		fmt.Fprintln(w, "no DKIM rotation is waiting")
	}
	failed := 0
	for _, c := range checks {
		switch {
		case c.Err != nil:
			failed++
			fmt.Fprintf(w, "%s: lookup failed, nothing changed: %v\n", c.Domain, c.Err)
		case c.Promoted:
			fmt.Fprintf(w, "%s: switched: %s now sign; %s retired, keep their records until %s\n",
				c.Domain, selectorList(c.Seen), selectorList(c.Retired), retiredUntil(c.Retired))
		default:
			fmt.Fprintf(w, "%s: waiting: %s not seen in DNS yet; the current keys keep signing\n", c.Domain, selectorList(c.Missing))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d lookup(s) failed", failed)
	}
	return nil
}

// retiredUntil is the day after which retired keys' records can go.
func retiredUntil(keys []mailbox.DKIMKey) string {
	if len(keys) == 0 {
		return "-"
	}
	return keys[0].Changed.Add(mailbox.RetiredKeyKeep).UTC().Format(time.DateOnly)
}
