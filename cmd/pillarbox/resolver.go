package main

import (
	"context"
	"net"
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
