package msgauth

import (
	"context"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"
)

// SPFResult is an SPF result (RFC 7208 2.6).
type SPFResult string

// The SPF results.
const (
	SPFPass      SPFResult = "pass"
	SPFFail      SPFResult = "fail"
	SPFSoftFail  SPFResult = "softfail"
	SPFNeutral   SPFResult = "neutral"
	SPFNone      SPFResult = "none"
	SPFTempError SPFResult = "temperror"
	SPFPermError SPFResult = "permerror"
)

// SPFOutcome is the SPF check of one message.
type SPFOutcome struct {
	Result SPFResult
	// Domain is the domain checked, lowercase ASCII: the MAIL FROM domain, or
	// the HELO domain when the reverse path is null (RFC 7208 2.4).
	Domain string
	// Helo says Domain is the HELO domain.
	Helo   bool
	Reason string
}

func (v *Verifier) spfCheck(ctx context.Context, ip net.IP, helo, mailFrom string) SPFOutcome {
	out := SPFOutcome{Domain: helo, Helo: true}
	local := "postmaster"
	if at := strings.LastIndexByte(mailFrom, '@'); at >= 0 {
		local, out.Domain, out.Helo = mailFrom[:at], mailFrom[at+1:], false
	}
	d, err := dmarcNormalizeDomain(out.Domain)
	if err != nil {
		// RFC 7208 4.3: a malformed domain gives none.
		out.Result, out.Reason = SPFNone, "malformed domain"
		return out
	}
	out.Domain = d
	heloArg := helo
	if h, err := dmarcNormalizeDomain(helo); err == nil {
		heloArg = h
	}
	res, err := spf.CheckHostWithSender(ip, heloArg, local+"@"+d,
		spf.WithContext(ctx), spf.WithResolver(v.res))
	out.Result = SPFResult(res)
	if err != nil && out.Result != SPFPass {
		out.Reason = err.Error()
	}
	if out.Result == "" {
		out.Result = SPFPermError
	}
	return out
}
