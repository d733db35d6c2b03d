package wellknown_test

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"pillarbox/mailbox/wellknown"
)

// outlookRequest is the body Outlook POSTs.
func outlookRequest(addr string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>`)
	xml.EscapeText(&b, []byte(addr))
	b.WriteString(`</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`)
	return b.String()
}

// adReply is what Outlook reads from the response, namespaces included.
type adReply struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		Account struct {
			AccountType string       `xml:"AccountType"`
			Action      string       `xml:"Action"`
			Protocols   []adProtocol `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

type adProtocol struct {
	Type, Server, LoginName, SPA, SSL, Encryption, AuthRequired, DomainRequired string
	Port                                                                        int
}

func parseAD(t *testing.T, r reply) adReply {
	t.Helper()
	wantStatus(t, "autodiscover", r, 200)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		t.Errorf("Content-Type %q", ct)
	}
	var a adReply
	if err := xml.Unmarshal([]byte(r.body), &a); err != nil {
		t.Fatalf("autodiscover response: %v\n%s", err, r.body)
	}
	return a
}

func TestAutodiscover(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	for _, c := range []struct {
		host, path string
	}{
		{"example.org", "/Autodiscover/Autodiscover.xml"},
		{"autodiscover.example.org", "/autodiscover/autodiscover.xml"},
		{"mx.example.org", "/AUTODISCOVER/autodiscover.XML"},
	} {
		a := parseAD(t, s.do(t, true, "POST", c.host, c.path, strings.NewReader(outlookRequest("Alice@example.org"))))
		acct := a.Response.Account
		if acct.AccountType != "email" || acct.Action != "settings" || len(acct.Protocols) != 2 {
			t.Fatalf("%s%s: account %+v", c.host, c.path, acct)
		}
		want := []adProtocol{
			{Type: "IMAP", Server: "mx.example.org", Port: 993, LoginName: "alice@example.org", SPA: "off", SSL: "on", Encryption: "SSL", AuthRequired: "on", DomainRequired: "off"},
			{Type: "SMTP", Server: "mx.example.org", Port: 465, LoginName: "alice@example.org", SPA: "off", SSL: "on", Encryption: "SSL", AuthRequired: "on", DomainRequired: "off"},
		}
		for i, p := range acct.Protocols {
			if p != want[i] {
				t.Errorf("%s%s: protocol %d: %+v, want %+v", c.host, c.path, i, p, want[i])
			}
		}
	}
}

func TestAutodiscoverSTARTTLSOnly(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, func(o *wellknown.Options) { o.Ports = wellknown.Ports{IMAP: 143, Submission: 587} })
	s := serveBoth(t, h)
	a := parseAD(t, s.do(t, true, "POST", "example.org", "/autodiscover/autodiscover.xml", strings.NewReader(outlookRequest("bob@example.org"))))
	got := a.Response.Account.Protocols
	if len(got) != 2 || got[0].Port != 143 || got[0].Encryption != "TLS" || got[1].Port != 587 || got[1].Encryption != "TLS" {
		t.Errorf("protocols %+v, want IMAP 143 and SMTP 587 with Encryption TLS", got)
	}
}

func TestAutodiscoverRefusals(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	post := func(body string) reply {
		return s.do(t, true, "POST", "example.org", "/autodiscover/autodiscover.xml", strings.NewReader(body))
	}
	wantStatus(t, "foreign address", post(outlookRequest("bob@evil.test")), 404)
	wantStatus(t, "bad address", post(outlookRequest("not an address")), 400)
	wantStatus(t, "no address", post(`<Autodiscover><Request></Request></Autodiscover>`), 400)
	wantStatus(t, "malformed XML", post(`<Autodiscover><Request><EMailAddress>a@example.org</Request>`), 400)
	wantStatus(t, "not XML", post("EMailAddress=a@example.org"), 400)
	wantStatus(t, "other root", post(`<Other><Request><EMailAddress>a@example.org</EMailAddress></Request></Other>`), 400)
	wantStatus(t, "empty", post(""), 400)
	mobile := strings.Replace(outlookRequest("a@example.org"), "outlook/responseschema/2006a", "mobilesync/responseschema/2006", 1)
	wantStatus(t, "ActiveSync schema", post(mobile), 404)
	// Over the bound, even when the XML itself would end in time.
	big := outlookRequest("a@example.org") + strings.Repeat(" ", 64<<10)
	wantStatus(t, "oversized", post(big), http.StatusRequestEntityTooLarge)
	wantStatus(t, "oversized element", post("<Autodiscover>"+strings.Repeat("x", 100<<10)), http.StatusRequestEntityTooLarge)
	// Just under the bound is fine.
	ok := outlookRequest("a@example.org")
	ok += strings.Repeat(" ", 64<<10-len(ok))
	parseAD(t, post(ok))
}

// The address is written back as LoginName, escaped, and reads back the
// same.
func TestAutodiscoverHostileAddress(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, nil)
	s := serveBoth(t, h)
	hostile := `"<&\"x</loginname>"@example.org`
	r := s.do(t, true, "POST", "example.org", "/autodiscover/autodiscover.xml", strings.NewReader(outlookRequest(hostile)))
	a := parseAD(t, r)
	for _, p := range a.Response.Account.Protocols {
		if p.LoginName != hostile {
			t.Errorf("LoginName %q, want %q", p.LoginName, hostile)
		}
	}
	if strings.Contains(r.body, "<&") {
		t.Errorf("unescaped input in\n%s", r.body)
	}
}

// Every body gets a well-formed answer or a plain refusal, never a
// panic or a 500.
func FuzzAutodiscover(f *testing.F) {
	f.Add(outlookRequest("alice@example.org"))
	f.Add(outlookRequest(`"<&"@example.org`))
	f.Add(`<Autodiscover><Request><EMailAddress>x@example.org</EMailAddress></Request></Autodiscover>`)
	f.Add(`<!DOCTYPE a [<!ENTITY e "x">]><Autodiscover>&e;</Autodiscover>`)
	f.Add("<Autodiscover>")
	h := wellknown.New(wellknown.Options{Hostname: "mx.example.org", Domains: newDomains("example.org"), Ports: allPorts})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "http://example.org/autodiscover/autodiscover.xml", strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200:
			var a adReply
			if err := xml.Unmarshal(w.Body.Bytes(), &a); err != nil {
				t.Fatalf("200 with bad XML: %v\n%s", err, w.Body)
			}
		case 400, 404, 413:
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}
