package msgauth

import (
	"context"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// DMARCResult is a DMARC result (RFC 7489 11.2).
type DMARCResult string

// The DMARC results.
const (
	DMARCPass      DMARCResult = "pass"
	DMARCFail      DMARCResult = "fail"
	DMARCNone      DMARCResult = "none"
	DMARCTempError DMARCResult = "temperror"
	DMARCPermError DMARCResult = "permerror"
)

// DMARCDisposition is a DMARC policy (p=, sp=) or what to do with a message.
type DMARCDisposition string

// The DMARC dispositions (RFC 7489 6.3).
const (
	DMARCDispositionNone       DMARCDisposition = "none"
	DMARCDispositionQuarantine DMARCDisposition = "quarantine"
	DMARCDispositionReject     DMARCDisposition = "reject"
)

// DMARCOutcome is the DMARC check of one message.
type DMARCOutcome struct {
	Result DMARCResult
	// Domain is the RFC5322.From domain, lowercase ASCII; empty when the
	// message has no single From address.
	Domain string
	// Policy is the policy that applies (sp= for a subdomain when the record
	// was found at the organisational domain, p= otherwise); empty without a
	// record.
	Policy DMARCDisposition
	// Pct is the record's pct= (100 when absent).
	Pct int
	// AlignedSPF and AlignedDKIM say which check passed for a domain aligned
	// with Domain (RFC 7489 3.1).
	AlignedSPF, AlignedDKIM bool
	// Disposition is what the policy asks for this message: Policy on fail,
	// one step milder when pct sampling leaves the message out (RFC 7489
	// 6.6.4), reject when the From header is not a single address
	// (RFC 7489 6.6.1), none otherwise.
	Disposition DMARCDisposition
	Reason      string
}

// dmarcPolicy is the outcome of the policy lookup (RFC 7489 6.6.3).
type dmarcPolicy struct {
	rec    *dmarc.Record
	org    string // the organisational domain of the From domain
	atOrg  bool   // rec was found at the organisational domain, not the From domain
	result DMARCResult
	reason string
}

func (v *Verifier) dmarcFetchPolicy(ctx context.Context, from string) dmarcPolicy {
	p := dmarcPolicy{org: dmarcOrgDomain(from)}
	var found bool
	p.rec, p.result, p.reason, found = v.dmarcFetch(ctx, from)
	// RFC 7489 6.6.3 step 3: only an empty set sends the lookup on to the
	// organisational domain; several records end discovery (step 5).
	if !found && p.result == DMARCNone && p.org != from {
		p.atOrg = true
		p.rec, p.result, p.reason, _ = v.dmarcFetch(ctx, p.org)
	}
	return p
}

// dmarcFetch looks the record of one domain up. No record, or several,
// means no DMARC (RFC 7489 6.6.3 step 5): result none and a nil record.
// found says at least one v=DMARC1 record was there.
func (v *Verifier) dmarcFetch(ctx context.Context, domain string) (*dmarc.Record, DMARCResult, string, bool) {
	txts, err := v.res.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		if de, ok := err.(*net.DNSError); ok && de.IsNotFound {
			return nil, DMARCNone, "no DMARC record", false
		}
		return nil, DMARCTempError, "DMARC record lookup failed", false
	}
	var recs []string
	for _, t := range txts {
		if k, val, ok := strings.Cut(strings.SplitN(t, ";", 2)[0], "="); ok &&
			strings.TrimSpace(k) == "v" && strings.TrimSpace(val) == "DMARC1" {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return nil, DMARCNone, "no DMARC record", false
	case 1:
	default:
		return nil, DMARCNone, "several DMARC records", true
	}
	rec, err := dmarc.Parse(dmarcKnownTags(recs[0]))
	if err != nil {
		return nil, DMARCPermError, "invalid DMARC record at " + domain, true
	}
	return rec, DMARCNone, "", true
}

// dmarcKnownTags keeps the tags this package uses. RFC 7489 6.3 says unknown
// tags MUST be ignored, but go-msgauth's parser refuses a part without "="
// and strict-checks report tags (rf, ri, fo) that do not change a verdict.
func dmarcKnownTags(rec string) string {
	var keep []string
	for _, part := range strings.Split(rec, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch k = strings.TrimSpace(k); k {
		case "v", "p", "sp", "adkim", "aspf", "pct":
			keep = append(keep, k+"="+strings.TrimSpace(val))
		}
	}
	return strings.Join(keep, ";")
}

// dmarcOrgDomain is the organisational domain (RFC 7489 3.2): the public
// suffix plus one label. A name that is itself a public suffix, or that the
// list cannot place, is its own organisational domain.
func dmarcOrgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// dmarcAligned reports whether an authenticated domain is aligned with the
// From domain (RFC 7489 3.1): equal in strict mode, the same organisational
// domain in relaxed mode.
func dmarcAligned(authDomain, from string, mode dmarc.AlignmentMode) bool {
	d, err := dmarcNormalizeDomain(authDomain)
	if err != nil {
		return false
	}
	if d == from {
		return true
	}
	return mode != dmarc.AlignmentStrict && dmarcOrgDomain(d) == dmarcOrgDomain(from)
}

func (v *Verifier) dmarcEvaluate(from string, fromErr error, p dmarcPolicy, spf SPFOutcome, sigs []DKIMOutcome) DMARCOutcome {
	out := DMARCOutcome{Domain: from, Disposition: DMARCDispositionNone, Pct: 100}
	if fromErr != nil {
		// RFC 7489 6.6.1: without a single author domain DMARC cannot be
		// applied; such a message is a known way to pass a forged From, so it
		// fails and may be refused.
		out.Result, out.Disposition, out.Reason = DMARCFail, DMARCDispositionReject, fromErr.Error()
		return out
	}
	if p.rec == nil {
		out.Result, out.Reason = p.result, p.reason
		return out
	}
	rec := p.rec
	out.Policy = DMARCDisposition(rec.Policy)
	if p.atOrg && rec.SubdomainPolicy != "" {
		out.Policy = DMARCDisposition(rec.SubdomainPolicy)
	}
	if rec.Percent != nil {
		out.Pct = *rec.Percent
	}
	var temp bool
	if dmarcAligned(spf.Domain, from, rec.SPFAlignment) {
		out.AlignedSPF = spf.Result == SPFPass
		temp = spf.Result == SPFTempError
	}
	for _, s := range sigs {
		if dmarcAligned(s.Domain, from, rec.DKIMAlignment) {
			out.AlignedDKIM = out.AlignedDKIM || s.Result == DKIMPass
			temp = temp || s.Result == DKIMTempError
		}
	}
	switch {
	case out.AlignedSPF || out.AlignedDKIM:
		out.Result = DMARCPass
		return out
	case temp:
		// A lookup failure must not turn into a refusal: the message may
		// well pass once DNS answers.
		out.Result, out.Reason = DMARCTempError, "an aligned check could not be completed"
		return out
	}
	out.Result = DMARCFail
	out.Reason = "no aligned SPF or DKIM pass"
	out.Disposition = out.Policy
	if out.Pct < 100 && v.sample() >= out.Pct {
		switch out.Disposition {
		case DMARCDispositionReject:
			out.Disposition = DMARCDispositionQuarantine
		case DMARCDispositionQuarantine:
			out.Disposition = DMARCDispositionNone
		}
		out.Reason += ", left out by pct"
	}
	return out
}
