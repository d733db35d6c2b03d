package wellknown_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"pillarbox/mailbox/wellknown"
	"pillarbox/smtp/relay/tlspolicy"
)

func TestMTASTSPolicyText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mx     []string
		maxAge time.Duration
		want   string
	}{
		{[]string{"mx.example.org"}, 0, "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 604800\r\n"},
		{[]string{"a.example", "b.example"}, 24 * time.Hour, "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmx: b.example\r\nmax_age: 86400\r\n"},
		{[]string{"mx.example.org"}, 10 * 365 * 24 * time.Hour, "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 31557600\r\n"},
	} {
		if got := wellknown.MTASTSPolicy(c.mx, c.maxAge); got != c.want {
			t.Errorf("MTASTSPolicy(%q, %v) = %q, want %q", c.mx, c.maxAge, got, c.want)
		}
	}
}

// The policy as a sending MTA fetches it: Pillarbox's own relay client,
// which checks the certificate, the status, the media type and the
// syntax (RFC 8461 3.3).
func TestMTASTSFetchedByRelay(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, func(o *wellknown.Options) { o.MTASTSMaxAge = 48 * time.Hour })
	s := serveBoth(t, h)
	addr := s.tls.Listener.Addr().String()
	var d net.Dialer
	f := tlspolicy.NewFetcher(tlspolicy.FetcherOptions{
		// Every policy host resolves to the test server.
		Dialer: dialerFunc(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}),
		RootCAs: s.pool,
	})
	for _, domain := range []string{"example.org", "example.net"} {
		p, err := f.FetchPolicy(context.Background(), domain)
		if err != nil {
			t.Fatalf("%s: %v", domain, err)
		}
		if p.Mode != tlspolicy.ModeEnforce || !slices.Equal(p.MX, []string{"mx.example.org"}) || p.MaxAge != 48*time.Hour {
			t.Errorf("%s: policy %+v", domain, p)
		}
	}
	if _, err := f.FetchPolicy(context.Background(), "evil.test"); err == nil {
		t.Error("a policy for a domain that is not local")
	}
}

type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

func TestMTASTSOnlyOverHTTPS(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	r := s.do(t, true, "GET", "mta-sts.example.org", wellknown.MTASTSPath, nil)
	wantStatus(t, "policy", r, 200)
	if r.body != "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 604800\r\n" {
		t.Errorf("policy %q", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type %q", ct)
	}
	wantStatus(t, "plain HTTP", s.do(t, false, "GET", "mta-sts.example.org", wellknown.MTASTSPath, nil), 404)
	for _, host := range []string{"example.org", "mx.example.org", "autoconfig.example.org", "mta-sts.evil.test", "mta-sts.mta-sts.example.org"} {
		wantStatus(t, "policy on "+host, s.do(t, true, "GET", host, wellknown.MTASTSPath, nil), 404)
	}
	// Another local domain has the same policy.
	r = s.do(t, true, "GET", "MTA-STS.example.net:443", wellknown.MTASTSPath, nil)
	wantStatus(t, "example.net", r, 200)
}
