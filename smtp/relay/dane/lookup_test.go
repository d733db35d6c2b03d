package dane

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"pillarbox/smtp/msgauth/dnstest"
)

// startDNS runs a loopback DNS server and a Resolver that asks it.
func startDNS(t *testing.T, opts Options) (*dnstest.Server, *Resolver) {
	t.Helper()
	s := dnstest.Start(t)
	opts.Addr = s.Addr()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

// wire is r as dnstest serves it.
func wire(r Record) dnstest.TLSA {
	return dnstest.TLSA{Usage: uint8(r.Usage), Selector: uint8(r.Selector), MatchingType: uint8(r.MatchingType), Data: r.Data}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"", "127.0.0.1", "dns.example:53", "[::1]"} {
		if _, err := New(Options{Addr: addr}); err == nil {
			t.Errorf("New(%q) succeeded", addr)
		}
	}
	if _, err := New(Options{Addr: "127.0.0.1:53", Port: 70000}); err == nil {
		t.Error("port 70000 accepted")
	}
	if _, err := New(Options{Addr: "[::1]:53"}); err != nil {
		t.Errorf("New([::1]:53): %v", err)
	}
}

func TestLookupTLSA(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	ee := rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, p.leaf.cert)
	pkix := rec(t, UsagePKIXEE, SelectorSPKI, MatchSHA256, p.leaf.cert)
	s, r := startDNS(t, Options{})
	s.SetTLSA("_25._tcp.secure.example", wire(ee), wire(pkix))
	s.SetTLSA("_25._tcp.insecure.example", wire(ee))
	s.SetTLSA("_25._tcp.unusable.example", wire(pkix))
	s.SetA("_25._tcp.nodata.example", "192.0.2.1") // the name exists, without TLSA
	s.ServFail("_25._tcp.broken.example")
	s.Secure("_25._tcp.secure.example", "_25._tcp.unusable.example", "_25._tcp.nodata.example", "_25._tcp.nx.example")
	ctx := context.Background()

	tests := []struct {
		host             string
		found, secure    bool
		usable, unusable int
		wantRcode        int // the LookupError's, 0 for no error
	}{
		{host: "secure.example", found: true, secure: true, usable: 1, unusable: 1},
		{host: "insecure.example", found: true, usable: 1},
		{host: "unusable.example", found: true, secure: true, unusable: 1},
		{host: "nodata.example", secure: true},
		{host: "nx.example", secure: true},
		{host: "nx-insecure.example"},
		{host: "broken.example", wantRcode: dns.RcodeServerFailure},
	}
	for _, tc := range tests {
		res, err := r.LookupTLSA(ctx, tc.host)
		if tc.wantRcode != 0 {
			var le *LookupError
			if !errors.As(err, &le) || le.Rcode != tc.wantRcode || le.Type != "TLSA" || le.Name != "_25._tcp."+tc.host+"." {
				t.Errorf("%s: %+v, %v; want a LookupError with rcode %d", tc.host, res, err, tc.wantRcode)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.host, err)
			continue
		}
		if res.Name != "_25._tcp."+tc.host+"." || res.Found != tc.found || res.Secure != tc.secure ||
			len(res.Usable) != tc.usable || len(res.Unusable) != tc.unusable {
			t.Errorf("%s: %+v", tc.host, res)
		}
	}
	res, _ := r.LookupTLSA(ctx, "secure.example")
	if len(res.Usable) == 1 && (res.Usable[0].String() != ee.String() || !res.Usable[0].Match(p.leaf.cert)) {
		t.Errorf("usable record %v, want %v", res.Usable[0], ee)
	}
}

// TestLookupTLSATruncated serves more full-certificate records than fit
// the 1232-byte UDP answer: the lookup must ask again over TCP and get
// them all.
func TestLookupTLSATruncated(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	s, r := startDNS(t, Options{})
	var all []dnstest.TLSA
	for _, c := range []*issued{p.leaf, p.otherName, p.wildcard, p.inter, p.root} {
		all = append(all, wire(rec(t, UsageDANEEE, SelectorCert, MatchFull, c.cert)))
	}
	s.SetTLSA("_25._tcp.big.example", all...)
	s.Secure("_25._tcp.big.example")

	// The premise: over UDP the answer is cut.
	m := new(dns.Msg)
	m.SetQuestion("_25._tcp.big.example.", dns.TypeTLSA)
	m.SetEdns0(udpSize, true)
	udp, err := dns.Exchange(m, s.Addr())
	if err != nil || !udp.Truncated || len(udp.Answer) >= len(all) {
		t.Fatalf("UDP answer: truncated %v, %d records, %v", udp != nil && udp.Truncated, len(udp.Answer), err)
	}
	res, err := r.LookupTLSA(context.Background(), "big.example")
	if err != nil || !res.Secure || len(res.Usable) != len(all) {
		t.Fatalf("LookupTLSA: %d usable, secure %v, %v; want %d", len(res.Usable), res.Secure, err, len(all))
	}
	if !res.Usable[4].Match(p.root.cert) {
		t.Errorf("last record %v does not match the root", res.Usable[4])
	}
}

// TestLookupCustomPort checks that the TLSA name follows Options.Port.
func TestLookupCustomPort(t *testing.T) {
	t.Parallel()
	s, r := startDNS(t, Options{Port: 2525})
	s.SetTLSA("_2525._tcp.mx.example", dnstest.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)})
	res, err := r.LookupTLSA(context.Background(), "mx.example.")
	if err != nil || res.Name != "_2525._tcp.mx.example." || !res.Found {
		t.Errorf("LookupTLSA: %+v, %v", res, err)
	}
}

// TestLookupTimeout checks that a resolver that does not answer gives a
// LookupError that is a timeout, within the context's deadline, and that
// a cancelled context ends the lookup.
func TestLookupTimeout(t *testing.T) {
	t.Parallel()
	s, r := startDNS(t, Options{Timeout: time.Minute})
	s.Silence("_25._tcp.silent.example")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := r.LookupTLSA(ctx, "silent.example")
	var le *LookupError
	if !errors.As(err, &le) || le.Rcode != -1 || !le.Timeout() || !le.Temporary() {
		t.Fatalf("err = %v, want a LookupError that is a timeout", err)
	}

	// A resolver that reads the query and never answers: cancel once the
	// query has arrived, so that the cancellation hits the wait for the
	// answer.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	arrived := make(chan struct{})
	go func() {
		buf := make([]byte, 512)
		if _, _, err := pc.ReadFrom(buf); err == nil {
			close(arrived)
		}
	}()
	hole, err := New(Options{Addr: pc.LocalAddr().String(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := hole.LookupTLSA(ctx, "mx.example")
		errc <- err
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the query did not arrive")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lookup did not end when its context was cancelled")
	}
}

func TestLookupMX(t *testing.T) {
	t.Parallel()
	s, r := startDNS(t, Options{})
	s.SetMX("signed.example", "mx1.signed.example")
	s.SetMX("unsigned.example", "mx.unsigned.example")
	s.Secure("signed.example", "gone.example")
	ctx := context.Background()

	res, err := r.LookupMX(ctx, "signed.example")
	if err != nil || !res.Secure || len(res.MX) != 1 || res.MX[0].Host != "mx1.signed.example." || res.MX[0].Pref != 10 {
		t.Errorf("signed: %+v, %v", res, err)
	}
	if res, err := r.LookupMX(ctx, "unsigned.example"); err != nil || res.Secure || len(res.MX) != 1 {
		t.Errorf("unsigned: %+v, %v", res, err)
	}
	// An authenticated NXDOMAIN: no records, secure.
	if res, err := r.LookupMX(ctx, "gone.example"); err != nil || !res.Secure || len(res.MX) != 0 {
		t.Errorf("gone: %+v, %v", res, err)
	}
}

func TestLookupHost(t *testing.T) {
	t.Parallel()
	s, r := startDNS(t, Options{})
	s.SetA("mx.example", "192.0.2.1", "2001:db8::1")
	s.SetA("v6.example", "2001:db8::6")
	s.SetCNAME("alias.example", "real.example")
	s.SetA("real.example", "192.0.2.2")
	s.SetA("half.example", "192.0.2.3")
	s.ServFail("broken.example")
	s.Secure("mx.example", "v6.example", "alias.example", "real.example")
	ctx := context.Background()

	tests := []struct {
		host, name string
		ips        int
		secure     bool
	}{
		{"MX.example.", "mx.example", 2, true},
		{"v6.example", "v6.example", 1, true},
		{"alias.example", "real.example", 1, true},
		{"half.example", "half.example", 1, false},
		{"none.example", "none.example", 0, false},
	}
	for _, tc := range tests {
		res, err := r.LookupHost(ctx, tc.host)
		if err != nil || res.Name != tc.name || len(res.IPs) != tc.ips || res.Secure != tc.secure {
			t.Errorf("%s: %+v, %v", tc.host, res, err)
		}
	}
	if res, _ := r.LookupHost(ctx, "mx.example"); len(res.IPs) == 2 && !res.IPs[1].Equal(net.ParseIP("2001:db8::1")) {
		t.Errorf("mx.example IPs %v", res.IPs)
	}
	var le *LookupError
	if _, err := r.LookupHost(ctx, "broken.example"); !errors.As(err, &le) || le.Rcode != dns.RcodeServerFailure {
		t.Errorf("broken: %v, want SERVFAIL", err)
	}
}

func TestValidates(t *testing.T) {
	t.Parallel()
	s, r := startDNS(t, Options{})
	ctx := context.Background()
	if ok, err := r.Validates(ctx); err != nil || ok {
		t.Errorf("before: %v, %v; want false", ok, err)
	}
	s.Secure(".")
	if ok, err := r.Validates(ctx); err != nil || !ok {
		t.Errorf("after: %v, %v; want true", ok, err)
	}
}
