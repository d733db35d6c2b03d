package main

import (
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"strings"

	"pillarbox/mailbox"
	"pillarbox/mailbox/wellknown"
	"pillarbox/smtp/msgauth"
	"pillarbox/store"
)

// dnsRecord is one record to publish for a mail domain.
type dnsRecord struct {
	Name, Type, Value string
	// Required records make `dns check` fail when missing or wrong;
	// the others (SRV, TLSRPT) help mail apps and reports.
	Required bool
	// Comment says what the record is for, above it in the zone file.
	Comment string
}

// zoneLine writes r as a zone-file line. TXT values longer than 255
// bytes are split into several strings (RFC 1035 3.3.14), as DKIM keys
// need.
func (r dnsRecord) zoneLine() string {
	v := r.Value
	if r.Type == "TXT" {
		var parts []string
		for len(v) > 255 {
			parts = append(parts, v[:255])
			v = v[255:]
		}
		parts = append(parts, v)
		for i, p := range parts {
			parts[i] = `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
		}
		v = strings.Join(parts, " ")
	}
	return fmt.Sprintf("%s IN %s %s", r.Name, r.Type, v)
}

// mailRecords lists the records a domain served by this host needs:
// MX, SPF, DKIM (dkim holds one TXT record per selector, name and value),
// DMARC, MTA-STS, TLSRPT and the RFC 6186 SRV records that let mail apps
// find the submission and IMAP ports.
func mailRecords(cfg *Config, domain string, dkim []dnsRecord) []dnsRecord {
	host := cfg.Hostname + "."
	d := domain + "."
	recs := []dnsRecord{
		{Name: d, Type: "MX", Value: "10 " + host, Required: true, Comment: "mail for " + domain + " goes to this host"},
		{Name: d, Type: "TXT", Value: "v=spf1 mx " + spfAll(cfg), Required: true, Comment: "SPF: only the domain's MX hosts send its mail (RFC 7208)"},
	}
	recs = append(recs, dkim...)
	recs = append(recs,
		dnsRecord{Name: "_dmarc." + d, Type: "TXT", Value: "v=DMARC1; p=reject; adkim=r; aspf=r; rua=mailto:postmaster@" + domain,
			Required: true, Comment: "DMARC: refuse mail that fails SPF and DKIM alignment; reports to postmaster (RFC 7489)"},
		dnsRecord{Name: "_mta-sts." + d, Type: "TXT", Value: "v=STSv1; id=" + mtaSTSID(cfg),
			Comment: "MTA-STS (RFC 8461): senders must use TLS to the MX; the policy below is served at https://mta-sts." + domain + "/.well-known/mta-sts.txt"},
		dnsRecord{Name: "_smtp._tls." + d, Type: "TXT", Value: "v=TLSRPTv1; rua=mailto:postmaster@" + domain,
			Comment: "TLS reporting (RFC 8460)"},
	)
	for _, s := range []struct{ name, listen, def string }{
		{"_submission._tcp.", cfg.Submission.Listen, "587"},
		{"_submissions._tcp.", cfg.Submission.ListenTLS, "465"},
		{"_imap._tcp.", cfg.IMAP.Listen, "143"},
		{"_imaps._tcp.", cfg.IMAP.ListenTLS, "993"},
	} {
		// RFC 6186 3: a target of "." says the service is not offered.
		v := "0 0 0 ."
		if s.listen != "" {
			v = "0 1 " + listenPort(s.listen, s.def) + " " + host
		}
		recs = append(recs, dnsRecord{Name: s.name + d, Type: "SRV", Value: v, Comment: "for mail apps (RFC 6186)"})
	}
	return recs
}

// spfAll is the SPF record's final mechanism: "~all" (softfail) unless
// the operator chose "-all".
func spfAll(cfg *Config) string {
	if cfg.DNS.SPFAll != "" {
		return cfg.DNS.SPFAll
	}
	return "~all"
}

// mtaSTSID changes whenever the policy text does (RFC 8461 3.1).
func mtaSTSID(cfg *Config) string {
	h := fnv.New32a()
	io.WriteString(h, mtaSTSPolicy(cfg))
	return fmt.Sprintf("pb%08x", h.Sum32())
}

// mtaSTSPolicy is the domain's MTA-STS policy text: mode enforce, the MX
// host of the MX record above, the default max_age. It is the text that
// webHandler serves at https://mta-sts.<domain>/.well-known/mta-sts.txt,
// made by the same function.
func mtaSTSPolicy(cfg *Config) string {
	return wellknown.MTASTSPolicy([]string{cfg.Hostname}, 0)
}

// listenPort is the port of a listen address, or def when the address
// has none (port 0 picks one at start, which no record can name).
func listenPort(listen, def string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		return def
	}
	return port
}

// dkimRecords are the TXT records of a domain's DKIM keys. Those of
// active keys are required; a pending key's is the one to publish now,
// and a retiring key's stays a while for mail it signed.
func dkimRecords(domain string, keys []mailbox.DKIMKey) ([]dnsRecord, error) {
	var recs []dnsRecord
	for _, k := range keys {
		v, err := msgauth.KeyRecord(k.Public())
		if err != nil {
			return nil, err
		}
		rec := dnsRecord{Name: k.Selector + "._domainkey." + domain + ".", Type: "TXT", Value: v,
			Comment: "DKIM key " + k.Selector + " (" + k.Algorithm + ")"}
		switch k.State {
		case store.DKIMPending:
			rec.Comment += ", new: publish it; it starts signing once Pillarbox sees it"
		case store.DKIMRetiring:
			rec.Comment += ", retired: keep it until " + retiredUntil([]mailbox.DKIMKey{k}) + ", then remove it"
		default:
			rec.Required = true
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// writeZone prints records as a zone file, with the policy text and the
// reverse DNS the host needs as comments.
func writeZone(b *strings.Builder, cfg *Config, domain string, recs []dnsRecord) {
	fmt.Fprintf(b, "; DNS records for %s, served by %s\n", domain, cfg.Hostname)
	for _, r := range recs {
		fmt.Fprintf(b, "\n; %s\n%s\n", r.Comment, r.zoneLine())
	}
	fmt.Fprintf(b, "\n; MTA-STS policy text:\n")
	for _, l := range strings.Split(strings.TrimSpace(mtaSTSPolicy(cfg)), "\n") {
		fmt.Fprintf(b, ";   %s\n", strings.TrimSuffix(l, "\r"))
	}
	fmt.Fprintf(b, "\n; Reverse DNS: each public address of %s needs a PTR record naming %s,\n"+
		"; and %s an A/AAAA record back to it; receivers refuse mail from hosts without it.\n",
		cfg.Hostname, cfg.Hostname, cfg.Hostname)
}
