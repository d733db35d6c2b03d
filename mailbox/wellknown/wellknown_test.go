package wellknown_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"pillarbox/mailbox/wellknown"
)

// Only the documents are served, and only on the hosts they belong to.
func TestNotFound(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	for _, c := range []struct{ host, target string }{
		{"example.org", "/"},
		{"example.org", "/index.html"},
		{"example.org", "/.well-known/"},
		{"example.org", "/.well-known/autoconfig/"},
		{"example.org", "/.well-known/autoconfig/mail/"},
		{"example.org", wellknown.AutoconfigPath + "/"},
		{"example.org", "/.well-known/autoconfig/mail/config-v1.1.XML"},
		{"example.org", "/.well-known/autoconfig/mail/../mail/config-v1.1.xml"},
		{"example.org", "/mail/config-v1.1.xml"}, // only on autoconfig.<domain>
		{"mx.example.org", "/mail/config-v1.1.xml"},
		{"example.org", "/apple/"},
		{"example.org", "/apple/other.mobileconfig?email=a%40example.org"},
		{"example.org", "/.well-known/acme-challenge/x"},
		{"example.org", "/.well-known/security.txt"},
		// Hosts that are not this server's.
		{"evil.test", wellknown.AutoconfigPath},
		{"autoconfig.evil.test", "/mail/config-v1.1.xml"},
		{"www.example.org", wellknown.AutoconfigPath},
		{"127.0.0.1", wellknown.AutoconfigPath},
		{"[::1]:80", wellknown.AutoconfigPath},
		{"", wellknown.AutoconfigPath},
		{"bad host!", wellknown.AutoconfigPath},
		// The policy host serves the policy alone.
		{"mta-sts.example.org", wellknown.AutoconfigPath},
		{"mta-sts.example.org", wellknown.ApplePath + "?email=a%40example.org"},
	} {
		r := s.get(t, c.host, c.target)
		if r.status != 404 {
			t.Errorf("GET %s%s: %d, want 404; body %q", c.host, c.target, r.status, truncate(r.body))
		}
		if strings.Contains(r.body, "<") {
			t.Errorf("GET %s%s: 404 body %q", c.host, c.target, r.body)
		}
	}
	post := s.do(t, true, "POST", "mta-sts.example.org", wellknown.AutodiscoverPath, strings.NewReader(outlookRequest("a@example.org")))
	wantStatus(t, "autodiscover on the policy host", post, 404)
}

func TestMethods(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	for _, c := range []struct {
		secure               bool
		method, host, target string
		allow                string
	}{
		{false, "POST", "example.org", wellknown.AutoconfigPath, "GET, HEAD"},
		{false, "PUT", "autoconfig.example.org", "/mail/config-v1.1.xml", "GET, HEAD"},
		{false, "GET", "example.org", "/Autodiscover/Autodiscover.xml", "POST"},
		{false, "DELETE", "example.org", wellknown.ApplePath, "GET, HEAD"},
		{true, "POST", "mta-sts.example.org", wellknown.MTASTSPath, "GET, HEAD"},
	} {
		r := s.do(t, c.secure, c.method, c.host, c.target, strings.NewReader(""))
		wantStatus(t, c.method+" "+c.target, r, http.StatusMethodNotAllowed)
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.target, got, c.allow)
		}
	}
	// HEAD gets the headers of GET and no body.
	r := s.do(t, false, "HEAD", "autoconfig.example.org", "/mail/config-v1.1.xml", nil)
	wantStatus(t, "HEAD", r, 200)
	if r.body != "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/xml") {
		t.Errorf("HEAD: body %q, Content-Type %q", r.body, r.header.Get("Content-Type"))
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	for _, c := range []struct {
		r     reply
		cache string
	}{
		{s.get(t, "autoconfig.example.org", "/mail/config-v1.1.xml"), "public, max-age=3600"},
		{s.get(t, "autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=a%40example.org"), "private, no-store"},
		{s.getTLS(t, "example.org", wellknown.ApplePath+"?email=a%40example.org"), "private, no-store"},
		{s.do(t, true, "GET", "mta-sts.example.org", wellknown.MTASTSPath, nil), "public, max-age=3600"},
	} {
		wantStatus(t, "document", c.r, 200)
		if got := c.r.header.Get("Cache-Control"); got != c.cache {
			t.Errorf("Cache-Control %q, want %q", got, c.cache)
		}
		if got := c.r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options %q", got)
		}
	}
}

func TestNilDomains(t *testing.T) {
	t.Parallel()
	s := serveBoth(t, wellknown.New(wellknown.Options{Hostname: "MX.example.org", Ports: allPorts}))
	cfg := parseTB(t, s.get(t, "mx.example.org", wellknown.AutoconfigPath))
	if cfg.Provider.ID != "mx.example.org" || !slices.Equal(cfg.Provider.Domains, []string{"mx.example.org"}) || len(cfg.Provider.Incoming) != 2 {
		t.Errorf("config %+v", cfg.Provider)
	}
	wantStatus(t, "a domain", s.get(t, "example.org", wellknown.AutoconfigPath), 404)
}

func TestEmptyHostnamePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("New with no Hostname did not panic")
		}
	}()
	wellknown.New(wellknown.Options{})
}

// TestPasswordDocumentsOnlyOverTLS: Autodiscover and the Apple profile,
// which a client follows to send its password, are not served over plain
// HTTP, where they could be rewritten on the way; the same requests over
// HTTPS are.
func TestPasswordDocumentsOnlyOverTLS(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	for _, secure := range []bool{false, true} {
		want := 404
		if secure {
			want = 200
		}
		wantStatus(t, "autodiscover", s.do(t, secure, "POST", "example.org", wellknown.AutodiscoverPath, strings.NewReader(outlookRequest("a@example.org"))), want)
		wantStatus(t, "apple profile", s.do(t, secure, "GET", "example.org", wellknown.ApplePath+"?email=a%40example.org", nil), want)
	}
}
