package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/mailbox/wellknown"
	"pillarbox/store/storetest"
)

// webCert makes a self-signed certificate valid for names and for
// 127.0.0.1, as PEM; the certificate is its own root, so a client given it
// (curl --cacert) verifies the server.
func webCert(t *testing.T, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
		DNSNames:    names,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// webWiring opens a store for cfg and returns the wiring webHandler
// needs.
func webWiring(t *testing.T, cfg *Config) *wiring {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, pg)
	svc, err := mailbox.New(db, mailbox.Options{Domains: cfg.Domains, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &wiring{cfg: cfg, db: db, svc: svc, log: slog.New(slog.DiscardHandler)}
}

// httpsGet fetches https://host/target from the server at addr, with SNI
// and Host set to host, trusting pool only.
func httpsGet(t *testing.T, pool *x509.CertPool, addr, host, target string) (int, http.Header, string) {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: host},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := c.Get("https://" + host + target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// srvPorts reads the SRV records mailRecords makes: service → port, "-"
// when the record says the service is not offered.
func srvPorts(recs []dnsRecord) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if r.Type != "SRV" {
			continue
		}
		f := strings.Fields(r.Value)
		port := f[2]
		if f[3] == "." {
			port = "-"
		}
		out[strings.Split(r.Name, ".")[0]] = port
	}
	return out
}

// TestWebHandler serves webHandler as the HTTPS listener will, from a
// wiring with an opened store, and checks that the documents name the
// configured ports as the SRV records of `pillarbox dns` do, that the
// MTA-STS policy is the text `pillarbox dns` prints and hashes into the
// _mta-sts record's id, and that a domain added while serving is served.
func TestWebHandler(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Hostname = "mx.example.test"
	cfg.DataDir = t.TempDir()
	cfg.Domains = []string{"example.test"}
	cfg.IMAP.Listen = "127.0.0.1:0" // port 0: advertised as 143, as the SRV record says
	cfg.IMAP.ListenTLS = ""         // off
	cfg.Submission.Listen = "0.0.0.0:587"
	cfg.Submission.ListenTLS = "[::]:10465"
	w := webWiring(t, cfg)

	certPEM, keyPEM := webCert(t, "mx.example.test", "*.example.test", "*.other.test")
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	ts := httptest.NewUnstartedServer(webHandler(w))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()

	recs := mailRecords(cfg, "example.test", nil)
	srv := srvPorts(recs)
	if srv["_imap"] != "143" || srv["_imaps"] != "-" || srv["_submission"] != "587" || srv["_submissions"] != "10465" {
		t.Fatalf("SRV ports %v", srv)
	}

	// Thunderbird's document offers exactly what the SRV records offer.
	code, _, body := httpsGet(t, pool, addr, "autoconfig.example.test", "/mail/config-v1.1.xml?emailaddress=a%40example.test")
	if code != 200 {
		t.Fatalf("autoconfig: %d %s", code, body)
	}
	type tbServer struct {
		Host   string `xml:"hostname"`
		Port   string `xml:"port"`
		Socket string `xml:"socketType"`
	}
	var tb struct {
		In  []tbServer `xml:"emailProvider>incomingServer"`
		Out []tbServer `xml:"emailProvider>outgoingServer"`
	}
	if err := xml.Unmarshal([]byte(body), &tb); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range []struct {
		list               []tbServer
		implicit, starttls string
	}{{tb.In, "_imaps", "_imap"}, {tb.Out, "_submissions", "_submission"}} {
		for _, s := range l.list {
			if s.Host != "mx.example.test" {
				t.Errorf("a server on host %q", s.Host)
			}
			name := l.starttls
			if s.Socket == "SSL" {
				name = l.implicit
			}
			got[name] = s.Port
		}
	}
	for name, port := range srv {
		if port == "-" {
			port = ""
		}
		if got[name] != port {
			t.Errorf("autoconfig offers %s on %q, the SRV record on %q", name, got[name], port)
		}
	}

	// The policy served is the text `pillarbox dns` prints, and the id of
	// its _mta-sts record is the served text's.
	code, hdr, policy := httpsGet(t, pool, addr, "mta-sts.example.test", wellknown.MTASTSPath)
	if code != 200 || hdr.Get("Content-Type") != "text/plain" {
		t.Fatalf("policy: %d %q %q", code, hdr.Get("Content-Type"), policy)
	}
	if policy != mtaSTSPolicy(cfg) || !strings.Contains(policy, "mode: enforce\r\nmx: mx.example.test\r\n") {
		t.Errorf("served policy %q, dns prints %q", policy, mtaSTSPolicy(cfg))
	}
	h := fnv.New32a()
	io.WriteString(h, policy)
	wantID := fmt.Sprintf("v=STSv1; id=pb%08x", h.Sum32())
	i := slices.IndexFunc(recs, func(r dnsRecord) bool { return r.Name == "_mta-sts.example.test." })
	if i < 0 || recs[i].Value != wantID {
		t.Errorf("_mta-sts record %+v, want value %q", recs, wantID)
	}
	var zone strings.Builder
	writeZone(&zone, cfg, "example.test", recs)
	for _, l := range strings.Split(strings.TrimSpace(policy), "\r\n") {
		if !strings.Contains(zone.String(), ";   "+l+"\n") {
			t.Errorf("the zone lacks the policy line %q", l)
		}
	}

	// A domain added while serving (pillarbox domain add) is served at
	// once; one never added is not.
	if code, _, _ := httpsGet(t, pool, addr, "autoconfig.other.test", "/mail/config-v1.1.xml"); code != 404 {
		t.Errorf("other.test before it is added: %d", code)
	}
	if _, err := w.svc.AddDomain(context.Background(), "other.test"); err != nil {
		t.Fatal(err)
	}
	if code, _, body := httpsGet(t, pool, addr, "autoconfig.other.test", "/mail/config-v1.1.xml"); code != 200 || !strings.Contains(body, "<domain>other.test</domain>") {
		t.Errorf("other.test after it is added: %d %s", code, body)
	}
	if code, _, _ := httpsGet(t, pool, addr, "mta-sts.other.test", wellknown.MTASTSPath); code != 200 {
		t.Errorf("other.test's policy: %d", code)
	}
	if code, _, _ := httpsGet(t, pool, addr, "mx.example.test", "/"); code != 404 {
		t.Errorf("/: %d", code)
	}
}

func TestWebPorts(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.IMAP.Listen, cfg.IMAP.ListenTLS = "", ":993"
	cfg.Submission.Listen, cfg.Submission.ListenTLS = "[::1]:2587", ""
	got := webPorts(cfg)
	want := wellknown.Ports{IMAP: 0, IMAPS: 993, Submission: 2587, Submissions: 0}
	if got != want {
		t.Errorf("webPorts = %+v, want %+v", got, want)
	}
}
