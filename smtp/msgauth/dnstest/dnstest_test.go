package dnstest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	t.Parallel()
	s := Start(t)
	long := strings.Repeat("x", 3000) // past a UDP answer: asked again over TCP
	s.SetTXT("a.example.", "v=spf1 -all", long)
	s.SetA("b.example", "192.0.2.1", "2001:db8::1")
	s.ServFail("c.example")
	s.Silence("d.example")
	r := s.Resolver()
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "A.example")
	if err != nil || len(txt) != 2 || txt[0] != "v=spf1 -all" || txt[1] != long {
		t.Errorf("TXT = %q, %v", txt, err)
	}
	ips, err := r.LookupIPAddr(ctx, "b.example")
	if err != nil || len(ips) != 2 {
		t.Errorf("IPAddr = %v, %v", ips, err)
	}
	var de *net.DNSError
	if _, err := r.LookupTXT(ctx, "nx.example"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("nx: %v, want not found", err)
	}
	if _, err := r.LookupTXT(ctx, "c.example"); !errors.As(err, &de) || !de.Temporary() {
		t.Errorf("servfail: %v, want a temporary error", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := r.LookupTXT(tctx, "d.example"); !errors.As(err, &de) || !de.IsTimeout {
		t.Errorf("silent: %v, want a timeout", err)
	}
}
