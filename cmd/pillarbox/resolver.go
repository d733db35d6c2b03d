package main

import (
	"context"
	"net"

	"pillarbox/smtp"
	"pillarbox/smtp/msgauth"
)

// newResolver returns the resolver that every lookup Pillarbox makes
// goes through: the system's, or, with [dns] resolver set, one that sends
// every query to that server (over UDP, and TCP for long answers).
func newResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
}

// inbound is the MX's sender checks as configured ([inbound], [dns]).
func inbound(cfg *Config) smtp.Inbound {
	if !cfg.Inbound.Verify {
		return smtp.Inbound{}
	}
	return smtp.Inbound{
		Verifier: msgauth.NewVerifier(msgauth.VerifierOptions{
			Resolver: newResolver(cfg.DNS.Resolver),
			Hostname: cfg.Hostname,
		}),
		DMARCReject:      cfg.Inbound.DMARCReject,
		RefuseLocalSpoof: cfg.Inbound.RefuseLocalSpoof,
	}
}
