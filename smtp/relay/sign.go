package relay

import (
	"context"
	"fmt"
	"strings"

	"pillarbox/mailbox"
	"pillarbox/smtp/msgauth"
)

// signingDomain returns the local domain whose DKIM keys sign a message
// from sender, and those keys; "" when none applies. A message with a
// sender is signed for the sender's domain. A notice Pillarbox made
// (null sender) is signed for the first domain of noticeCandidates with
// keys, the domain noticeDomain put in its From or one above it.
func (r *Runner) signingDomain(ctx context.Context, sender string) (string, []mailbox.DKIMKey, error) {
	var cands []string
	if sender != "" {
		a, err := mailbox.ParseAddress(sender)
		if err != nil {
			return "", nil, nil // not ours to sign
		}
		cands = []string{a.Domain}
	} else {
		cands = r.noticeCandidates()
	}
	for _, d := range cands {
		// Only local domains have keys: no IsLocalDomain first.
		keys, err := r.svc.DKIMSigningKeys(ctx, d)
		if err != nil {
			return "", nil, err
		}
		if len(keys) > 0 {
			return d, keys, nil
		}
	}
	return "", nil, nil
}

// noticeCandidates are the domains that may sign a notice, in order: the
// hostname, each parent of it that still has a dot (a public suffix such
// as "org" is never a local domain), which DMARC's relaxed alignment
// (RFC 7489 3.1.1) accepts for a From at the hostname, then the primary
// domain.
func (r *Runner) noticeCandidates() []string {
	h := strings.ToLower(r.opts.Hostname)
	cands := []string{h}
	for i := strings.IndexByte(h, '.'); i >= 0 && strings.Contains(h[i+1:], "."); i = strings.IndexByte(h, '.') {
		h = h[i+1:]
		cands = append(cands, h)
	}
	if r.opts.PrimaryDomain != "" {
		cands = append(cands, strings.ToLower(r.opts.PrimaryDomain))
	}
	return cands
}

// noticeDomain is the domain of a notice's MAILER-DAEMON From: the
// hostname when it or a parent has keys, else the primary domain when it
// has keys (the hostname of a shared host is often outside the domains
// it serves), else the hostname, unsigned.
func (r *Runner) noticeDomain(ctx context.Context) string {
	d, _, err := r.signingDomain(ctx, "")
	if err != nil {
		r.log.Warn("relay: DKIM keys for a notice", "err", err)
	}
	if d == "" || strings.HasSuffix("."+strings.ToLower(r.opts.Hostname), "."+d) {
		return r.opts.Hostname
	}
	return d
}

// sign puts the DKIM signatures of the sender's domain on a message about
// to leave, once per message and after the last change to its header
// (Return-Path removed, lines made CRLF as they go on the wire, so that
// the body hash is over what the receiver reads). A message with no
// local signing domain is returned as it is, with CRLF lines.
func (r *Runner) sign(ctx context.Context, sender string, data []byte) ([]byte, error) {
	data = crlfLines(data)
	d, keys, err := r.signingDomain(ctx, sender)
	if err != nil || d == "" {
		return data, err
	}
	mk := make([]msgauth.Key, len(keys))
	for i, k := range keys {
		mk[i] = msgauth.Key{Selector: k.Selector, Signer: k.Signer}
	}
	signed, err := msgauth.Sign(data, d, mk)
	if err != nil {
		return nil, fmt.Errorf("relay: DKIM signing for %s: %w", d, err)
	}
	return signed, nil
}
