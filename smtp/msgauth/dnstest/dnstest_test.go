package dnstest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
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

// ask sends one query to s with miekg/dns, over UDP with a 1232-byte
// buffer, and with the DO bit when do is set.
func ask(t *testing.T, s *Server, name string, qtype uint16, do bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if do {
		m.SetEdns0(1232, true)
	}
	c := dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestTLSAAndAD(t *testing.T) {
	t.Parallel()
	s := Start(t)
	data := []byte{0xde, 0xad, 0xbe, 0xef}
	s.SetTLSA("_25._tcp.mx.example", TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: data})
	s.SetA("mx.example", "192.0.2.1")
	s.SetA("insecure.example", "192.0.2.2")
	s.Secure("_25._tcp.mx.example", "mx.example", "gone.example")

	r := ask(t, s, "_25._tcp.MX.example", dns.TypeTLSA, true)
	if len(r.Answer) != 1 || !r.AuthenticatedData || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("TLSA answer %v, AD %v, rcode %d", r.Answer, r.AuthenticatedData, r.Rcode)
	}
	if rr, ok := r.Answer[0].(*dns.TLSA); !ok || rr.Usage != 3 || rr.Selector != 1 || rr.MatchingType != 1 || rr.Certificate != "deadbeef" {
		t.Errorf("TLSA = %v", r.Answer[0])
	}
	if o := r.IsEdns0(); o == nil || !o.Do() {
		t.Errorf("the answer does not echo EDNS0 with DO: %v", o)
	}
	// Without DO (and without AD) a validating resolver leaves AD unset.
	if r := ask(t, s, "_25._tcp.mx.example", dns.TypeTLSA, false); r.AuthenticatedData || len(r.Answer) != 1 {
		t.Errorf("without DO: AD %v, %d records", r.AuthenticatedData, len(r.Answer))
	}
	if r := ask(t, s, "insecure.example", dns.TypeA, true); r.AuthenticatedData || len(r.Answer) != 1 {
		t.Errorf("insecure name: AD %v, %d records", r.AuthenticatedData, len(r.Answer))
	}
	// NODATA and NXDOMAIN carry AD as well when the name is secure.
	if r := ask(t, s, "mx.example", dns.TypeTLSA, true); !r.AuthenticatedData || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("secure NODATA: AD %v, rcode %d, %d records", r.AuthenticatedData, r.Rcode, len(r.Answer))
	}
	if r := ask(t, s, "gone.example", dns.TypeA, true); !r.AuthenticatedData || r.Rcode != dns.RcodeNameError {
		t.Errorf("secure NXDOMAIN: AD %v, rcode %d", r.AuthenticatedData, r.Rcode)
	}
}

func TestCNAME(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.SetCNAME("alias.example", "real.example")
	s.SetA("real.example", "192.0.2.7")
	s.Secure("alias.example", "real.example")
	s.SetCNAME("half.example", "unsigned.example")
	s.SetA("unsigned.example", "192.0.2.8")
	s.Secure("half.example")

	r := ask(t, s, "alias.example", dns.TypeA, true)
	if len(r.Answer) != 2 || !r.AuthenticatedData {
		t.Fatalf("answer %v, AD %v", r.Answer, r.AuthenticatedData)
	}
	if c, ok := r.Answer[0].(*dns.CNAME); !ok || c.Target != "real.example." {
		t.Errorf("first record %v, want the CNAME", r.Answer[0])
	}
	if a, ok := r.Answer[1].(*dns.A); !ok || a.Hdr.Name != "real.example." || !a.A.Equal(net.ParseIP("192.0.2.7")) {
		t.Errorf("second record %v, want real.example's A", r.Answer[1])
	}
	if r := ask(t, s, "half.example", dns.TypeA, true); r.AuthenticatedData || len(r.Answer) != 2 {
		t.Errorf("chain into an insecure name: AD %v, %d records", r.AuthenticatedData, len(r.Answer))
	}
	if r := ask(t, s, "alias.example", dns.TypeCNAME, true); len(r.Answer) != 1 {
		t.Errorf("CNAME query: %v", r.Answer)
	}
	// The Go resolver follows the chain too.
	ips, err := s.Resolver().LookupHost(context.Background(), "alias.example")
	if err != nil || len(ips) != 1 || ips[0] != "192.0.2.7" {
		t.Errorf("LookupHost = %v, %v", ips, err)
	}
}
