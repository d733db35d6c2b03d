package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"pillarbox/mailbox"
)

// parseQuotaSize reads a quota as the operator writes it: a number of
// octets with an optional binary unit K, M, G or T (KiB, MiB...; a
// trailing "B" or "iB" is allowed), or "0" / "none" for no quota.
func parseQuotaSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if t == "NONE" || t == "UNLIMITED" {
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || t == "" || t[0] == '+' {
		return 0, fmt.Errorf("invalid size %q (want a number of bytes with an optional K, M, G or T, or none)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// humanBytes writes n octets in the largest binary unit that keeps one
// decimal meaningful.
func humanBytes(n int64) string {
	const units = "KMGT"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}

// printQuota writes one line about an account's quota: the exact
// octets first, for scripts, then the same in readable units.
func printQuota(w io.Writer, address string, q mailbox.Quota) {
	if q.Limit <= 0 {
		fmt.Fprintf(w, "%s: %d bytes used (%s), no quota\n", address, q.Usage, humanBytes(q.Usage))
		return
	}
	fmt.Fprintf(w, "%s: %d bytes used (%s) of %d (%s), %d%%\n", address, q.Usage, humanBytes(q.Usage),
		q.Limit, humanBytes(q.Limit), q.Usage*100/q.Limit)
}

// userQuota is `pillarbox user quota ADDRESS [SIZE]`: with SIZE it sets
// the account's quota, and in both cases prints its usage and quota.
func userQuota(ctx context.Context, e *env, svc *mailbox.Service, a mailbox.Address, set *int64) error {
	if set != nil {
		if err := svc.SetQuota(ctx, a.String(), *set); err != nil {
			return err
		}
	}
	q, err := svc.UserQuota(ctx, a.String())
	if err != nil {
		return err
	}
	printQuota(e.stdout, a.String(), q)
	return nil
}
