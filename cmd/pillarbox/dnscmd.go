package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"pillarbox/mailbox"
	"pillarbox/smtp/msgauth"
)

// cmdDNS prints the records a local domain needs (`dns NAME`), or looks
// each up and says whether it is right (`dns check NAME`).
func cmdDNS(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("dns")
	const use = "pillarbox dns NAME | pillarbox dns check NAME"
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("dns: %w (usage: %s)", err, use)
	}
	check := len(pos) == 2 && pos[0] == "check"
	if !check && len(pos) != 1 {
		return fmt.Errorf("dns: want NAME or check NAME (usage: %s)", use)
	}
	name := pos[len(pos)-1]
	cfg, db, svc, err := openService(*cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	recs, err := domainRecords(ctx, cfg, svc, name)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	if !check {
		var b strings.Builder
		writeZone(&b, cfg, name, recs)
		_, err := fmt.Fprint(e.stdout, b.String())
		return err
	}
	bad := 0
	r := newResolver(cfg.DNS.Resolver)
	for _, rec := range recs {
		state, detail := checkRecord(ctx, r, cfg, rec)
		fmt.Fprintf(e.stdout, "%-7s %s %s%s\n", state, rec.Name, rec.Type, clean(detail))
		if state != "ok" && rec.Required {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("dns check: %d required record(s) of %s missing or wrong", bad, name)
	}
	return nil
}

// domainRecords are the records of a local domain with its DKIM keys.
func domainRecords(ctx context.Context, cfg *Config, svc *mailbox.Service, name string) ([]dnsRecord, error) {
	a, err := mailbox.ParseAddress("postmaster@" + name)
	if err != nil {
		return nil, err
	}
	doms, err := svc.Domains(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(doms, func(d mailbox.Domain) bool { return d.Name == a.Domain })
	if i < 0 {
		return nil, fmt.Errorf("%s is not a local domain (pillarbox domain add %s)", a.Domain, a.Domain)
	}
	dkim, err := dkimRecords(a.Domain, doms[i].Keys)
	if err != nil {
		return nil, err
	}
	if len(dkim) == 0 {
		return nil, fmt.Errorf("%s has no DKIM keys yet: they are made at the next start of serve", a.Domain)
	}
	return mailRecords(cfg, a.Domain, dkim), nil
}

// checkRecord looks rec up and says "ok", "missing" or "wrong", with
// what was found and what was expected.
func checkRecord(ctx context.Context, r *net.Resolver, cfg *Config, rec dnsRecord) (string, string) {
	expect := " (expected " + rec.Value + ")"
	switch rec.Type {
	case "MX":
		mxs, err := r.LookupMX(ctx, rec.Name)
		if err != nil || len(mxs) == 0 {
			return "missing", expect
		}
		for _, mx := range mxs {
			if strings.EqualFold(strings.TrimSuffix(mx.Host, "."), cfg.Hostname) {
				return "ok", ""
			}
		}
		return "wrong", fmt.Sprintf(": found %s%s", mxs[0].Host, expect)
	case "SRV":
		_, srvs, err := r.LookupSRV(ctx, "", "", rec.Name)
		if err != nil || len(srvs) == 0 {
			return "missing", expect
		}
		got := fmt.Sprintf("%d %d %d %s", srvs[0].Priority, srvs[0].Weight, srvs[0].Port, srvs[0].Target)
		if got == rec.Value {
			return "ok", ""
		}
		return "wrong", ": found " + got + expect
	}
	txts, err := r.LookupTXT(ctx, rec.Name)
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return "missing", ": lookup failed: " + err.Error()
	}
	prefix, _, _ := strings.Cut(rec.Value, ";")
	prefix, _, _ = strings.Cut(prefix, " ") // "v=spf1", "v=DMARC1", "v=DKIM1"
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(strings.ToLower(t), strings.ToLower(prefix)) {
			found = append(found, t)
		}
	}
	if len(found) == 0 {
		return "missing", expect
	}
	for _, t := range found {
		if txtAcceptable(rec, t) {
			return "ok", ""
		}
	}
	return "wrong", ": found " + strings.Join(found, " | ") + expect
}

// txtAcceptable says whether a published TXT value does the job of the
// expected one: the same DKIM key; an SPF record that lets the MX send
// and ends in ~all or -all; a DMARC policy of reject or quarantine; any
// MTA-STS or TLSRPT record (the id and addresses are the operator's).
func txtAcceptable(rec dnsRecord, got string) bool {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "") }
	switch {
	case strings.HasPrefix(rec.Value, "v=spf1"):
		f := strings.Fields(strings.ToLower(got))
		return slices.Contains(f, "mx") && (slices.Contains(f, "-all") || slices.Contains(f, "~all"))
	case strings.HasPrefix(rec.Value, "v=DMARC1"):
		g := norm(got)
		return strings.Contains(g, "p=reject") || strings.Contains(g, "p=quarantine")
	case strings.HasPrefix(rec.Value, "v=DKIM1"):
		return msgauth.SameKey(got, rec.Value)
	}
	return true
}
