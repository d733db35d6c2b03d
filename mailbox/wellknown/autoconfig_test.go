package wellknown_test

import (
	"encoding/xml"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pillarbox/mailbox/wellknown"
)

// tbConfig is what a Thunderbird-like client reads from the document.
type tbConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID       string   `xml:"id,attr"`
		Domains  []string `xml:"domain"`
		Incoming []tbSrv  `xml:"incomingServer"`
		Outgoing []tbSrv  `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type tbSrv struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     int    `xml:"port"`
	Socket   string `xml:"socketType"`
	Username string `xml:"username"`
	Auth     string `xml:"authentication"`
}

func parseTB(t *testing.T, r reply) tbConfig {
	t.Helper()
	wantStatus(t, "autoconfig", r, 200)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		t.Errorf("Content-Type %q", ct)
	}
	var c tbConfig
	if err := xml.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatalf("autoconfig is not XML: %v\n%s", err, r.body)
	}
	if c.Version != "1.1" {
		t.Errorf("clientConfig version %q", c.Version)
	}
	return c
}

// srvString is a server as "type host:port socket user auth", to compare
// lists in one go.
func srvString(list []tbSrv) []string {
	var out []string
	for _, s := range list {
		out = append(out, strings.Join([]string{s.Type, s.Hostname, strconv.Itoa(s.Port), s.Socket, s.Username, s.Auth}, " "))
	}
	return out
}

func TestAutoconfigEveryWay(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	q := "?emailaddress=" + url.QueryEscape("Alice@Example.ORG")
	wantIn := []string{
		"imap mx.example.org 993 SSL %EMAILADDRESS% password-cleartext",
		"imap mx.example.org 143 STARTTLS %EMAILADDRESS% password-cleartext",
	}
	wantOut := []string{
		"smtp mx.example.org 465 SSL %EMAILADDRESS% password-cleartext",
		"smtp mx.example.org 587 STARTTLS %EMAILADDRESS% password-cleartext",
	}
	for _, c := range []struct {
		secure       bool
		host, target string
	}{
		{false, "autoconfig.example.org", "/mail/config-v1.1.xml" + q},
		{true, "autoconfig.example.org", "/mail/config-v1.1.xml" + q},
		{false, "autoconfig.example.org", "/mail/config-v1.1.xml"}, // no address: the host's domain
		{true, "example.org", wellknown.AutoconfigPath + q},
		{false, "EXAMPLE.org:8080", wellknown.AutoconfigPath},
		{false, "mx.example.org", wellknown.AutoconfigPath + q},
		{false, "mx.example.org.", wellknown.AutoconfigPath + q},
		{false, "autoconfig.example.org", wellknown.AutoconfigPath + q},
		{false, "autoconfig.example.net", wellknown.AutoconfigPath + q}, // the address decides
	} {
		r := s.do(t, c.secure, "GET", c.host, c.target, nil)
		cfg := parseTB(t, r)
		if cfg.Provider.ID != "example.org" || !slices.Equal(cfg.Provider.Domains, []string{"example.org"}) {
			t.Errorf("%s%s: provider %q, domains %q", c.host, c.target, cfg.Provider.ID, cfg.Provider.Domains)
		}
		if got := srvString(cfg.Provider.Incoming); !slices.Equal(got, wantIn) {
			t.Errorf("%s%s: incoming %q, want %q", c.host, c.target, got, wantIn)
		}
		if got := srvString(cfg.Provider.Outgoing); !slices.Equal(got, wantOut) {
			t.Errorf("%s%s: outgoing %q, want %q", c.host, c.target, got, wantOut)
		}
	}
}

func TestAutoconfigPortsOffered(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ports   wellknown.Ports
		in, out []string
	}{
		{wellknown.Ports{IMAP: 143, Submission: 587},
			[]string{"imap mx.example.org 143 STARTTLS %EMAILADDRESS% password-cleartext"},
			[]string{"smtp mx.example.org 587 STARTTLS %EMAILADDRESS% password-cleartext"}},
		{wellknown.Ports{IMAPS: 10993, Submissions: 10465},
			[]string{"imap mx.example.org 10993 SSL %EMAILADDRESS% password-cleartext"},
			[]string{"smtp mx.example.org 10465 SSL %EMAILADDRESS% password-cleartext"}},
		{wellknown.Ports{}, nil, nil},
	} {
		h, _ := newHandler(t, func(o *wellknown.Options) { o.Ports = c.ports })
		s := serveBoth(t, h)
		cfg := parseTB(t, s.get(t, "autoconfig.example.org", "/mail/config-v1.1.xml"))
		if got := srvString(cfg.Provider.Incoming); !slices.Equal(got, c.in) {
			t.Errorf("%+v: incoming %q, want %q", c.ports, got, c.in)
		}
		if got := srvString(cfg.Provider.Outgoing); !slices.Equal(got, c.out) {
			t.Errorf("%+v: outgoing %q, want %q", c.ports, got, c.out)
		}
	}
}

func TestAutoconfigDomains(t *testing.T) {
	t.Parallel()
	h, doms := newHandler(t, nil)
	s := serveBoth(t, h)
	// The server's own name without an address: the name itself is the
	// domain (Thunderbird needs one), so that the document does not tell
	// which domains the host serves.
	cfg := parseTB(t, s.get(t, "mx.example.org", wellknown.AutoconfigPath))
	if cfg.Provider.ID != "mx.example.org" || !slices.Equal(cfg.Provider.Domains, []string{"mx.example.org"}) || len(cfg.Provider.Incoming) != 2 {
		t.Errorf("provider %q, domains %q", cfg.Provider.ID, cfg.Provider.Domains)
	}
	// Another local domain's address on one domain's host.
	cfg = parseTB(t, s.get(t, "example.org", wellknown.AutoconfigPath+"?emailaddress=bob%40example.net"))
	if !slices.Equal(cfg.Provider.Domains, []string{"example.net"}) {
		t.Errorf("domains %q, want example.net", cfg.Provider.Domains)
	}
	// An address elsewhere, or a host of a domain that is not local.
	wantStatus(t, "foreign address", s.get(t, "autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=bob%40evil.test"), 404)
	wantStatus(t, "foreign host", s.get(t, "autoconfig.example.com", "/mail/config-v1.1.xml"), 404)
	wantStatus(t, "bad address", s.get(t, "autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=no-at-sign"), 400)
	// A domain added while serving is served at once.
	wantStatus(t, "before add", s.get(t, "autoconfig.example.com", "/mail/config-v1.1.xml"), 404)
	doms.add("example.com")
	cfg = parseTB(t, s.get(t, "autoconfig.example.com", "/mail/config-v1.1.xml"))
	if !slices.Equal(cfg.Provider.Domains, []string{"example.com"}) {
		t.Errorf("after add: domains %q", cfg.Provider.Domains)
	}
}

// A hostile address is never written into the document: it only selects
// the domain, and the XML stays well-formed.
func TestAutoconfigHostileAddress(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	hostile := `"<&\"x</domain>"@example.org`
	r := s.get(t, "autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress="+url.QueryEscape(hostile))
	cfg := parseTB(t, r)
	if !slices.Equal(cfg.Provider.Domains, []string{"example.org"}) {
		t.Errorf("domains %q", cfg.Provider.Domains)
	}
	if strings.Contains(r.body, "<&") || strings.Contains(r.body, "x</domain>") {
		t.Errorf("the address leaked into the document:\n%s", r.body)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q for a request naming an address", cc)
	}
}
