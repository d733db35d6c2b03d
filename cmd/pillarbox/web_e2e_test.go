package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox/wellknown"
)

// webE2E is a running server with [http] and [https] listeners, fetched
// from with curl.
type webE2E struct {
	dir, certFile     string
	httpAddr, tlsAddr string
}

// curl fetches url (http:// or https:// on the server's ports, host
// names resolved to it), with extra arguments before it, and returns the
// status, the Content-Type and the body.
func (w webE2E) curl(t *testing.T, url string, extra ...string) (int, string, string) {
	t.Helper()
	_, httpPort, _ := net.SplitHostPort(w.httpAddr)
	_, tlsPort, _ := net.SplitHostPort(w.tlsAddr)
	out := filepath.Join(w.dir, "curl-body")
	args := []string{"-sS", "--max-time", "30", "--cacert", w.certFile, "-o", out, "-w", "%{http_code} %{content_type}"}
	for _, h := range []string{"mx.example.test", "example.test", "autoconfig.example.test", "mta-sts.example.test", "evil.test"} {
		args = append(args, "--resolve", h+":"+httpPort+":127.0.0.1", "--resolve", h+":"+tlsPort+":127.0.0.1")
	}
	url = strings.NewReplacer("HTTPPORT", httpPort, "HTTPSPORT", tlsPort).Replace(url)
	args = append(append(args, extra...), url)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	stdout, err := exec.CommandContext(ctx, "curl", args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("curl %s: %v: %s", url, err, stderr)
	}
	codeStr, ctype, _ := strings.Cut(string(stdout), " ")
	code, err := strconv.Atoi(codeStr)
	if err != nil {
		t.Fatalf("curl %s: -w output %q", url, stdout)
	}
	body, err := os.ReadFile(out)
	if err != nil && code != 0 {
		body = nil
	}
	os.Remove(out)
	return code, ctype, string(body)
}

// plistPairs reads a flat view of a property list: each key and the text
// (or, for <true/> and <false/>, the name) of the element after it.
func plistPairs(t *testing.T, body string) map[string][]string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	out := map[string][]string{}
	var key string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "key", "string", "integer":
			var s string
			if err := d.DecodeElement(&s, &se); err != nil {
				t.Fatalf("plist: %v\n%s", err, body)
			}
			if se.Name.Local == "key" {
				key = s
			} else if key != "" {
				out[key] = append(out[key], s)
				key = ""
			}
		case "true", "false":
			if key != "" {
				out[key] = append(out[key], se.Name.Local)
				key = ""
			}
		default:
			key = ""
		}
	}
	return out
}

// TestWebDocuments fetches every document with curl from the built
// server's [http] and [https] listeners, checks the hosts and ports they
// name against the config and against `pillarbox dns`, and then follows
// them as a mail app would: IMAP login and SMTP greeting over TLS on the
// advertised ports, verifying the certificate.
func TestWebDocuments(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	certPEM, keyPEM := webCert(t, "mx.example.test", "example.test", "autoconfig.example.test", "mta-sts.example.test")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 4)
	pIMAP, pIMAPS, pSub, pSubs := ports[0], ports[1], ports[2], ports[3]
	cfg := writeServeConfig(t, dataDir, func(c *Config) {
		c.HTTP.Listen = "127.0.0.1:0"
		c.HTTPS.Listen = "127.0.0.1:0"
		c.TLS.Cert, c.TLS.Key = certFile, keyFile
		c.IMAP.Listen = fmt.Sprintf("127.0.0.1:%d", pIMAP)
		c.IMAP.ListenTLS = fmt.Sprintf("127.0.0.1:%d", pIMAPS)
		c.Submission.Listen = fmt.Sprintf("127.0.0.1:%d", pSub)
		c.Submission.ListenTLS = fmt.Sprintf("127.0.0.1:%d", pSubs)
	})
	const user, pass = "alice@example.test", "web e2e secret"
	mustCLI(t, pass+"\n", "user", "add", user, "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	if srv.addrs["https"] == "" || srv.addrs["http"] == "" {
		t.Fatalf("the server logged no service=http and service=https lines: %v", srv.addrs)
	}
	w := webE2E{dir: dir, certFile: certFile, httpAddr: srv.addrs["http"], tlsAddr: srv.addrs["https"]}
	wantIn := []string{fmt.Sprintf("mx.example.test %d SSL", pIMAPS), fmt.Sprintf("mx.example.test %d STARTTLS", pIMAP)}
	wantOut := []string{fmt.Sprintf("mx.example.test %d SSL", pSubs), fmt.Sprintf("mx.example.test %d STARTTLS", pSub)}

	// Thunderbird: both URLs it tries, over HTTPS and plain HTTP.
	for _, url := range []string{
		"https://autoconfig.example.test:HTTPSPORT/mail/config-v1.1.xml?emailaddress=alice%40example.test",
		"http://autoconfig.example.test:HTTPPORT/mail/config-v1.1.xml?emailaddress=alice%40example.test",
		"https://example.test:HTTPSPORT/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.test",
	} {
		code, ctype, body := w.curl(t, url)
		if code != 200 || !strings.HasPrefix(ctype, "application/xml") {
			t.Fatalf("%s: %d %q %s", url, code, ctype, body)
		}
		var doc struct {
			Domain string `xml:"emailProvider>domain"`
			In     []struct {
				Host, Socket, User string
				Port               int
			} `xml:"emailProvider>incomingServer"`
			Out []struct {
				Host, Socket, User string
				Port               int
			} `xml:"emailProvider>outgoingServer"`
		}
		// The element names differ from the fields': map them.
		body2 := strings.NewReplacer("<hostname>", "<Host>", "</hostname>", "</Host>", "<socketType>", "<Socket>",
			"</socketType>", "</Socket>", "<username>", "<User>", "</username>", "</User>", "<port>", "<Port>", "</port>", "</Port>").Replace(body)
		if err := xml.Unmarshal([]byte(body2), &doc); err != nil {
			t.Fatalf("%s: %v\n%s", url, err, body)
		}
		var in, out []string
		for _, s := range doc.In {
			in = append(in, fmt.Sprintf("%s %d %s", s.Host, s.Port, s.Socket))
			if s.User != "%EMAILADDRESS%" {
				t.Errorf("%s: username %q", url, s.User)
			}
		}
		for _, s := range doc.Out {
			out = append(out, fmt.Sprintf("%s %d %s", s.Host, s.Port, s.Socket))
		}
		if doc.Domain != "example.test" || !slices.Equal(in, wantIn) || !slices.Equal(out, wantOut) {
			t.Errorf("%s: domain %q, incoming %q (want %q), outgoing %q (want %q)", url, doc.Domain, in, wantIn, out, wantOut)
		}
	}

	// Outlook: POST, as Outlook writes the path.
	reqFile := filepath.Join(dir, "autodiscover.xml")
	req := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	if err := os.WriteFile(reqFile, []byte(req), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, body := w.curl(t, "https://example.test:HTTPSPORT/Autodiscover/Autodiscover.xml",
		"-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", "@"+reqFile)
	if code != 200 {
		t.Fatalf("autodiscover: %d %s", code, body)
	}
	var ad struct {
		Protocols []struct {
			Type, Server, SSL, LoginName string
			Port                         int
		} `xml:"Response>Account>Protocol"`
	}
	if err := xml.Unmarshal([]byte(body), &ad); err != nil {
		t.Fatalf("autodiscover: %v\n%s", err, body)
	}
	var got []string
	for _, p := range ad.Protocols {
		got = append(got, fmt.Sprintf("%s %s %d %s %s", p.Type, p.Server, p.Port, p.SSL, p.LoginName))
	}
	if want := []string{
		fmt.Sprintf("IMAP mx.example.test %d on %s", pIMAPS, user),
		fmt.Sprintf("SMTP mx.example.test %d on %s", pSubs, user),
	}; !slices.Equal(got, want) {
		t.Errorf("autodiscover protocols %q, want %q", got, want)
	}

	// Apple's profile.
	code, ctype, body := w.curl(t, "https://mx.example.test:HTTPSPORT"+wellknown.ApplePath+"?email=alice%40example.test")
	if code != 200 || ctype != "application/x-apple-aspen-config" {
		t.Fatalf("profile: %d %q %s", code, ctype, body)
	}
	pl := plistPairs(t, body)
	for k, want := range map[string]string{
		"IncomingMailServerHostName":   "mx.example.test",
		"IncomingMailServerPortNumber": strconv.Itoa(pIMAPS),
		"IncomingMailServerUseSSL":     "true",
		"IncomingMailServerUsername":   user,
		"OutgoingMailServerHostName":   "mx.example.test",
		"OutgoingMailServerPortNumber": strconv.Itoa(pSubs),
		"OutgoingMailServerUsername":   user,
		"EmailAddress":                 user,
	} {
		if !slices.Equal(pl[k], []string{want}) {
			t.Errorf("profile %s = %q, want %q", k, pl[k], want)
		}
	}
	if !slices.Contains(pl["PayloadType"], "com.apple.mail.managed") {
		t.Errorf("profile PayloadType %q", pl["PayloadType"])
	}

	// The MTA-STS policy, over HTTPS only, as `pillarbox dns` prints it.
	code, ctype, policy := w.curl(t, "https://mta-sts.example.test:HTTPSPORT/.well-known/mta-sts.txt")
	if code != 200 || ctype != "text/plain" {
		t.Fatalf("policy: %d %q %q", code, ctype, policy)
	}
	if policy != "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 604800\r\n" {
		t.Errorf("policy %q", policy)
	}
	zone := mustCLI(t, "", "dns", "example.test", "--config", cfg)
	for _, l := range strings.Split(strings.TrimSpace(policy), "\r\n") {
		if !strings.Contains(zone, ";   "+l+"\n") {
			t.Errorf("pillarbox dns does not print the served policy line %q:\n%s", l, zone)
		}
	}
	for _, srvRec := range []string{
		fmt.Sprintf("_imaps._tcp.example.test. IN SRV 0 1 %d mx.example.test.", pIMAPS),
		fmt.Sprintf("_imap._tcp.example.test. IN SRV 0 1 %d mx.example.test.", pIMAP),
		fmt.Sprintf("_submissions._tcp.example.test. IN SRV 0 1 %d mx.example.test.", pSubs),
		fmt.Sprintf("_submission._tcp.example.test. IN SRV 0 1 %d mx.example.test.", pSub),
	} {
		if !strings.Contains(zone, srvRec+"\n") {
			t.Errorf("pillarbox dns lacks %q, the ports the documents name", srvRec)
		}
	}
	if code, _, _ := w.curl(t, "http://mta-sts.example.test:HTTPPORT/.well-known/mta-sts.txt"); code != 404 {
		t.Errorf("policy over plain HTTP: %d, want 404", code)
	}
	for _, url := range []string{
		"https://mx.example.test:HTTPSPORT/",
		"http://example.test:HTTPPORT/etc/passwd",
		"https://evil.test:HTTPSPORT/.well-known/autoconfig/mail/config-v1.1.xml",
	} {
		// evil.test is not in the certificate: -k lets the request reach
		// the handler, which must refuse the host.
		if code, _, _ := w.curl(t, url, "-k"); code != 404 {
			t.Errorf("%s: %d, want 404", url, code)
		}
	}

	// A mail app follows the documents: the advertised ports speak TLS
	// with a certificate for the advertised host, and take the address
	// and password.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "mx.example.test"}
	c, err := imapclient.DialTLS(fmt.Sprintf("127.0.0.1:%d", pIMAPS), &imapclient.Options{TLSConfig: tlsConf})
	if err != nil {
		t.Fatalf("IMAPS on the advertised port: %v", err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Errorf("IMAP login as the documents say: %v", err)
	}
	c.Logout().Wait()
	c.Close()
	sc, err := gosmtp.DialTLS(fmt.Sprintf("127.0.0.1:%d", pSubs), tlsConf)
	if err != nil {
		t.Fatalf("submissions on the advertised port: %v", err)
	}
	if err := sc.Hello("client.example"); err != nil {
		t.Errorf("submissions EHLO: %v", err)
	}
	if ok, _ := sc.Extension("AUTH"); !ok {
		t.Error("submissions offers no AUTH")
	}
	sc.Quit()
	srv.stop(t)
}
