package smtp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/smtp/msgauth"
)

// Inbound configures the MX's checks of who sent a message (SPF, DKIM
// and DMARC, computed once here) and what it does with the verdict.
type Inbound struct {
	// Verifier checks each message and writes the verdict as one
	// Authentication-Results header on top. Nil: no checks, and no
	// header.
	Verifier *msgauth.Verifier
	// DMARCReject refuses, with 550 5.7.1 after DATA, a message that
	// fails DMARC where the From domain's policy says p=reject. Off, such
	// a message goes to Junk. A quarantine policy always means Junk.
	DMARCReject bool
	// RefuseLocalSpoof refuses, with 550 5.7.1, a message whose From or
	// MAIL FROM names a local domain but that passes neither SPF nor DKIM
	// for it: mail from a local domain comes in through submission, not
	// the MX.
	RefuseLocalSpoof bool
}

// verifyTimeout bounds the checks of one message; each lookup has its own
// shorter timeout in the Verifier.
const verifyTimeout = 30 * time.Second

// inboundDecision is what the checks decided for one message.
type inboundDecision struct {
	header  string // Authentication-Results, CRLF-terminated; "" without checks
	junk    bool
	summary string // for the log line
	// senderVerified says SPF or DKIM passed for the MAIL FROM domain:
	// only then may a success notice go to the sender, who might
	// otherwise be a forged bystander (backscatter).
	senderVerified bool
}

// checkInbound verifies raw (the message as received, without our trace
// headers) and decides. It returns the message with the incoming
// Authentication-Results headers that claim our name removed, or the
// refusal to send.
func (s *session) checkInbound(raw []byte) ([]byte, inboundDecision, error) {
	in := s.srv.opts.Inbound
	if in.Verifier == nil {
		return raw, inboundDecision{}, nil
	}
	raw = msgauth.StripAuthResults(raw, s.srv.opts.Hostname)
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	v := in.Verifier.Verify(ctx, net.ParseIP(remoteIP(s.conn)), s.conn.Hostname(), s.from, raw)
	d := inboundDecision{header: v.Header(), summary: v.Summary()}
	if _, dom, ok := strings.Cut(s.from, "@"); ok {
		d.senderVerified = v.AuthenticatedFor(dom)
	}

	if in.RefuseLocalSpoof {
		for _, dom := range s.claimedLocalDomains(v) {
			if !v.AuthenticatedFor(dom) && !temporary(v) {
				return nil, d, &reasoned{why: RefusedLocalSpoof, SMTPError: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
					Message: fmt.Sprintf("Message claims to be from %s, a domain of this server, but is not authenticated (%s)", dom, v.Summary())}}
			}
		}
	}
	if v.DMARC.Result == msgauth.DMARCFail {
		switch v.DMARC.Disposition {
		case msgauth.DMARCDispositionReject:
			if in.DMARCReject {
				reason := v.DMARC.Reason
				if reason == "" {
					reason = v.Summary()
				}
				return nil, d, &reasoned{why: RefusedDMARC, SMTPError: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
					Message: fmt.Sprintf("DMARC policy of %s rejects this message (%s)", v.DMARC.Domain, reason)}}
			}
			d.junk = true
		case msgauth.DMARCDispositionQuarantine:
			d.junk = true
		}
	}
	return raw, d, nil
}

// claimedLocalDomains are the local domains the message claims to come
// from: its From domain and its MAIL FROM domain.
func (s *session) claimedLocalDomains(v msgauth.Verdict) []string {
	var out []string
	add := func(d string) {
		d = strings.ToLower(d)
		if d == "" || !s.srv.mb.IsLocalDomain(d) {
			return
		}
		for _, x := range out {
			if x == d {
				return
			}
		}
		out = append(out, d)
	}
	add(v.DMARC.Domain)
	if a, err := mailbox.ParseAddress(s.from); err == nil {
		add(a.Domain)
	}
	return out
}

// temporary reports whether a check could not be made because DNS
// failed: such mail is never refused for good (the header says
// temperror).
func temporary(v msgauth.Verdict) bool {
	if v.SPF.Result == msgauth.SPFTempError || v.DMARC.Result == msgauth.DMARCTempError {
		return true
	}
	for _, d := range v.DKIM {
		if d.Result == msgauth.DKIMTempError {
			return true
		}
	}
	return false
}
