package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLookupID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	set := func(domain string, txts ...string) { e.dns.SetTXT("_mta-sts."+domain, txts...) }
	set("one.test", "v=spf1 -all", "v=STSv1; id=20260301a;")
	set("two.test", "v=STSv1; id=1", "v=STSv1; id=2")
	set("other.test", "v=spf1 -all")
	set("bad.test", "v=STSv1; id=not-alnum")
	set("empty.test") // the name exists, without TXT records
	set("xn--bcher-kva.test", "v=STSv1; id=idn")
	e.dns.ServFail("_mta-sts.down.test")

	for _, tc := range []struct {
		domain, wantID string
		noRecord       bool // want ErrNoRecord; else, with no id, another error
	}{
		{"one.test", "20260301a", false},
		{"ONE.test.", "20260301a", false},
		{"bücher.test", "idn", false},
		{"two.test", "", true},
		{"other.test", "", true},
		{"bad.test", "", true},
		{"empty.test", "", true},
		{"missing.test", "", true},
		{"down.test", "", false},
		{"[192.0.2.1]", "", false},
		{"", "", false},
	} {
		id, err := e.fetcher.LookupID(ctx, tc.domain)
		switch {
		case tc.wantID != "":
			if err != nil || id != tc.wantID {
				t.Errorf("LookupID(%q) = %q, %v; want %q", tc.domain, id, err, tc.wantID)
			}
		case tc.noRecord:
			if !errors.Is(err, ErrNoRecord) {
				t.Errorf("LookupID(%q) = %q, %v; want ErrNoRecord", tc.domain, id, err)
			}
		default:
			if err == nil || errors.Is(err, ErrNoRecord) {
				t.Errorf("LookupID(%q) = %q, %v; want a failure other than ErrNoRecord", tc.domain, id, err)
			}
		}
	}
}

func TestFetchPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.host.set(func(h *policyHost) { h.ctype = "text/plain; charset=utf-8" })
	p, err := e.fetcher.FetchPolicy(context.Background(), "Example.Test.")
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{ModeEnforce, []string{"mx1.example.test", "*.mx.example.test"}, 604800 * time.Second}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("FetchPolicy = %+v, want %+v", p, want)
	}
	if hosts := e.host.seenHosts(); len(hosts) != 1 || hosts[0] != "mta-sts.example.test" {
		t.Errorf("requests for hosts %q, want mta-sts.example.test once", hosts)
	}
}

// TestFetchPolicyRefused covers every answer RFC 8461 3.2 and 3.3 say a
// sender must not take as a policy.
func TestFetchPolicyRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(e *env)
		check func(t *testing.T, err error)
	}{
		{"redirect", func(e *env) {
			// The target would serve a good policy.
			e.host.set(func(h *policyHost) { h.location = "/elsewhere" })
		}, wantMention("redirects are not followed")},
		{"redirect to another host", func(e *env) {
			e.host.set(func(h *policyHost) { h.location = "https://mta-sts.other.test" + policyPath })
		}, wantMention("302")},
		{"text/html", func(e *env) { e.host.set(func(h *policyHost) { h.ctype = "text/html" }) }, wantMention(`content type "text/html"`)},
		{"no content type", func(e *env) { e.host.set(func(h *policyHost) { h.ctype = "" }) }, wantMention("content type")},
		{"text/plainx", func(e *env) { e.host.set(func(h *policyHost) { h.ctype = "text/plainx" }) }, wantMention("content type")},
		{"404", func(e *env) { e.host.set(func(h *policyHost) { h.status = http.StatusNotFound }) }, wantMention("404")},
		{"500", func(e *env) { e.host.set(func(h *policyHost) { h.status = http.StatusInternalServerError }) }, wantMention("500")},
		{"204", func(e *env) { e.host.set(func(h *policyHost) { h.status = http.StatusNoContent }) }, wantMention("204")},
		{"invalid policy", func(e *env) { e.host.set(func(h *policyHost) { h.body = "version: STSv1\nmode: enforce\n" }) },
			func(t *testing.T, err error) {
				if !errors.Is(err, ErrInvalidPolicy) {
					t.Errorf("error %v, want ErrInvalidPolicy", err)
				}
			}},
		{"body too large", func(e *env) {
			e.host.set(func(h *policyHost) { h.body = enforcePolicy + "pad: " + strings.Repeat("x", MaxPolicySize) + "\n" })
		}, wantMention("body longer than 65536")},
		{"certificate for another name", func(e *env) {
			e.host.set(func(h *policyHost) { h.cert = e.ca.Issue(t, "mta-sts.other.test", "example.test") })
		}, func(t *testing.T, err error) {
			var he x509.HostnameError
			if !errors.As(err, &he) {
				t.Errorf("error %v, want a host name mismatch", err)
			}
		}},
		{"certificate from an unknown CA", func(e *env) {
			e.host.set(func(h *policyHost) { h.cert = newTestCA(t).Issue(t, "mta-sts.example.test") })
		}, func(t *testing.T, err error) {
			var ue x509.UnknownAuthorityError
			if !errors.As(err, &ue) {
				t.Errorf("error %v, want an unknown authority", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tc.setup(e)
			p, err := e.fetcher.FetchPolicy(context.Background(), testDomain)
			if err == nil {
				t.Fatalf("FetchPolicy = %+v, want an error", p)
			}
			if !strings.HasPrefix(err.Error(), "tlspolicy: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			tc.check(t, err)
			if _, other := e.host.counts(); other != 0 {
				t.Errorf("%d requests for another path: a redirect was followed", other)
			}
		})
	}
}

func wantMention(sub string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !strings.Contains(err.Error(), sub) {
			t.Errorf("error %q does not mention %q", err, sub)
		}
	}
}

// TestFetchPolicyInjectedClient: a client of the caller's that would
// follow redirects does not follow them here.
func TestFetchPolicyInjectedClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := &http.Client{Transport: &http.Transport{
		DialContext:     e.host.dialer().DialContext,
		TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool},
	}}
	f := NewFetcher(FetcherOptions{HTTPClient: client})
	if _, err := f.FetchPolicy(context.Background(), testDomain); err != nil {
		t.Fatalf("direct fetch: %v", err)
	}
	e.host.set(func(h *policyHost) { h.location = "/elsewhere" })
	if p, err := f.FetchPolicy(context.Background(), testDomain); err == nil {
		t.Errorf("FetchPolicy through a redirect = %+v", p)
	}
	if _, other := e.host.counts(); other != 0 {
		t.Errorf("the redirect was followed")
	}
	if client.CheckRedirect != nil {
		t.Errorf("the caller's client was changed")
	}
}

func TestFetchPolicyTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := make(chan struct{}, 1)
	e.host.set(func(h *policyHost) { h.block, h.gotReq = true, got })
	// The timeout must leave room for the TLS handshake on a loaded
	// machine: the point is that it also ends the wait for the reply.
	f := NewFetcher(FetcherOptions{Dialer: e.host.dialer(), RootCAs: e.ca.Pool, Timeout: 2 * time.Second})
	_, err := f.FetchPolicy(context.Background(), testDomain)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the deadline", err)
	}
	select {
	case <-got:
	default:
		t.Error("the request never reached the host: the timeout was not what failed")
	}
}
