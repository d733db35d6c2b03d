// Package dnstest runs a DNS server on loopback for tests, serving records from maps.
package dnstest

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers DNS queries on 127.0.0.1 from the records set on it. A name
// with no record of the asked type gets NXDOMAIN when it has no record at
// all, and an empty NOERROR answer otherwise. A name with a CNAME is
// answered with the CNAME and the target's records, the way a recursive
// resolver answers. Safe for concurrent use.
type Server struct {
	udp, tcp *dns.Server
	addr     string

	mu       sync.Mutex
	txt      map[string][]string
	a        map[string][]net.IP
	mx       map[string][]string
	tlsa     map[string][]TLSA
	cname    map[string]string
	secure   map[string]bool
	servfail map[string]bool
	refused  map[string]bool
	silent   map[string]bool
	queries  int
}

// TLSA is one TLSA record (RFC 6698 2.1): the certificate usage, the
// selector, the matching type and the certificate association data.
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// Start runs a server on 127.0.0.1:0 (UDP and TCP on the same port) until
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		txt: map[string][]string{}, a: map[string][]net.IP{}, mx: map[string][]string{},
		tlsa: map[string][]TLSA{}, cname: map[string]string{}, secure: map[string]bool{},
		servfail: map[string]bool{}, refused: map[string]bool{}, silent: map[string]bool{},
	}
	pc, ln, err := listen()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	<-started
	<-started
	t.Cleanup(func() {
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
	return s
}

// listen opens UDP and TCP on one loopback port. The port the system picks
// for UDP may be taken for TCP by another process: try a few.
func listen() (net.PacketConn, net.Listener, error) {
	var err error
	for range 20 {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			return pc, ln, nil
		}
		pc.Close()
	}
	return nil, nil, fmt.Errorf("listen tcp: %w", err)
}

// Addr is the server's host:port, the same for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Resolver returns a pure-Go resolver that sends every query to this server,
// whatever nameserver the system configures.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.addr)
		},
	}
}

func key(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// SetTXT replaces the TXT records of name; each string is one record
// (split into 255-byte character-strings on the wire).
func (s *Server) SetTXT(name string, records ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[key(name)] = records
}

// SetA replaces the A/AAAA records of name.
func (s *Server) SetA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l []net.IP
	for _, ip := range ips {
		l = append(l, net.ParseIP(ip))
	}
	s.a[key(name)] = l
}

// SetMX replaces the MX records of name (preference 10 each).
func (s *Server) SetMX(name string, hosts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mx[key(name)] = hosts
}

// SetTLSA replaces the TLSA records of name (the whole owner name, such as
// "_25._tcp.mx.example").
func (s *Server) SetTLSA(name string, records ...TLSA) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tlsa[key(name)] = records
}

// SetCNAME makes name an alias of target.
func (s *Server) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cname[key(name)] = key(target)
}

// Secure makes the answers for names, records as well as NXDOMAIN and
// empty answers, carry the AD bit, as a validating resolver sets it for
// data it has authenticated with DNSSEC. As such a resolver does, the
// server sets it only when the query has the DO or the AD bit (RFC 6840
// 5.7), and an answer through CNAMEs only when every name in the chain is
// secure.
func (s *Server) Secure(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.secure[key(n)] = true
	}
}

// ServFail makes every query for name answer SERVFAIL.
func (s *Server) ServFail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail[key(name)] = true
}

// Refuse makes every query for name answer REFUSED, as a resolver does
// for a client it does not serve.
func (s *Server) Refuse(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[key(name)] = true
}

// Silence makes the server drop every query for name, so that the client
// times out.
func (s *Server) Silence(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent[key(name)] = true
}

// Queries is the number of queries received so far.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// maxChain bounds the CNAMEs followed in one answer.
const maxChain = 8

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	opt := req.IsEdns0()
	if opt != nil {
		// Echo EDNS0 and the DO bit (RFC 3225 3).
		m.SetEdns0(dns.DefaultMsgSize, opt.Do())
	}

	s.mu.Lock()
	s.queries++
	if s.silent[strings.ToLower(q.Name)] {
		s.mu.Unlock()
		return
	}
	if s.servfail[strings.ToLower(q.Name)] {
		s.mu.Unlock()
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	}
	if s.refused[strings.ToLower(q.Name)] {
		s.mu.Unlock()
		m.Rcode = dns.RcodeRefused
		w.WriteMsg(m)
		return
	}
	found, secure := s.answerLocked(m, q)
	s.mu.Unlock()

	if !found {
		m.Rcode = dns.RcodeNameError
	}
	m.AuthenticatedData = secure && (req.AuthenticatedData || opt != nil && opt.Do())
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		// A UDP answer must fit the client's buffer (RFC 6891 6.2.5), or
		// carry the TC bit so that it asks again over TCP (RFC 7766).
		size := dns.MinMsgSize
		if opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// answerLocked adds the answer to q to m, following CNAMEs. found is false
// when the last name in the chain has no record at all (NXDOMAIN); secure
// is whether every name in the chain is marked Secure.
func (s *Server) answerLocked(m *dns.Msg, q dns.Question) (found, secure bool) {
	owner := q.Name
	name := strings.ToLower(owner)
	secure = true
	for range maxChain {
		secure = secure && s.secure[name]
		target, ok := s.cname[name]
		if !ok || q.Qtype == dns.TypeCNAME {
			break
		}
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: rrHeader(owner, dns.TypeCNAME), Target: target})
		owner, name = target, target
	}
	txt, hasTXT := s.txt[name]
	ips, hasA := s.a[name]
	mxs, hasMX := s.mx[name]
	tlsas, hasTLSA := s.tlsa[name]
	target, hasCNAME := s.cname[name]
	switch q.Qtype {
	case dns.TypeTXT:
		for _, r := range txt {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: rrHeader(owner, dns.TypeTXT), Txt: chunks(r)})
		}
	case dns.TypeA:
		for _, ip := range ips {
			if ip4 := ip.To4(); ip4 != nil {
				m.Answer = append(m.Answer, &dns.A{Hdr: rrHeader(owner, dns.TypeA), A: ip4})
			}
		}
	case dns.TypeAAAA:
		for _, ip := range ips {
			if ip.To4() == nil {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: rrHeader(owner, dns.TypeAAAA), AAAA: ip})
			}
		}
	case dns.TypeMX:
		for _, h := range mxs {
			m.Answer = append(m.Answer, &dns.MX{Hdr: rrHeader(owner, dns.TypeMX), Preference: 10, Mx: dns.Fqdn(h)})
		}
	case dns.TypeTLSA:
		for _, t := range tlsas {
			m.Answer = append(m.Answer, &dns.TLSA{Hdr: rrHeader(owner, dns.TypeTLSA), Usage: t.Usage,
				Selector: t.Selector, MatchingType: t.MatchingType, Certificate: hex.EncodeToString(t.Data)})
		}
	case dns.TypeCNAME:
		if hasCNAME {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: rrHeader(owner, dns.TypeCNAME), Target: target})
		}
	}
	return len(m.Answer) > 0 || hasTXT || hasA || hasMX || hasTLSA || hasCNAME, secure
}

func rrHeader(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 60}
}

// chunks splits a TXT record into character-strings of at most 255 bytes
// (RFC 1035 3.3.14); resolvers join them back.
func chunks(s string) []string {
	var l []string
	for len(s) > 255 {
		l = append(l, s[:255])
		s = s[255:]
	}
	return append(l, s)
}
