package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pebbleBin builds Pebble (go.mod's tool) once per test binary, beside
// the pillarbox binary that TestMain built, and only for the tests that
// run it.
var pebbleBin = sync.OnceValues(func() (string, error) {
	p := filepath.Join(filepath.Dir(binPath), "pebble")
	out, err := exec.Command("go", "build", "-o", p, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building pebble: %v\n%s", err, out)
	}
	return p, nil
})

// testCAFiles is a CA made for one test, and a certificate it issued for
// 127.0.0.1 and localhost: Pebble's own HTTPS certificate.
type testCAFiles struct {
	caPEM, certPEM, keyPEM string // file paths
	pool                   *x509.CertPool
}

func newTestCAFiles(t *testing.T) testCAFiles {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pillarbox test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := testCAFiles{caPEM: filepath.Join(dir, "ca.pem"), certPEM: filepath.Join(dir, "cert.pem"),
		keyPEM: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	f.pool.AddCert(caCert)
	for path, b := range map[string]*pem.Block{
		f.caPEM:   {Type: "CERTIFICATE", Bytes: caDER},
		f.certPEM: {Type: "CERTIFICATE", Bytes: der},
		f.keyPEM:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// pebbleServer is a running Pebble.
type pebbleServer struct {
	proc   *serveProc // its log (stdout), waited on like serve's
	dirURL string
	mgmt   string       // the management API's address
	client *http.Client // trusts Pebble's HTTPS certificate
	// httpPort and tlsPort are where its validation authority connects
	// for HTTP-01 and TLS-ALPN-01: the server's http and https listeners.
	httpPort, tlsPort int
}

// pebbleOptions says how a test's Pebble validates and issues.
type pebbleOptions struct {
	// DNS is the resolver it asks for the names' addresses.
	DNS string
	// Validity is the lifetime of the certificates it issues.
	Validity time.Duration
}

// startPebble runs Pebble on loopback with real validation (no
// PEBBLE_VA_ALWAYS_VALID) until the test ends, and waits until its ACME
// directory answers.
func startPebble(t *testing.T, ca testCAFiles, o pebbleOptions) *pebbleServer {
	t.Helper()
	bin, err := pebbleBin()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ports := freePorts(t, 4)
	listen := fmt.Sprintf("127.0.0.1:%d", ports[0])
	mgmt := fmt.Sprintf("127.0.0.1:%d", ports[1])
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": ca.certPEM, "privateKey": ca.keyPEM,
		"httpPort": ports[2], "tlsPort": ports[3],
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "pillarbox tests", "validityPeriod": int(o.Validity / time.Second)}},
	}}
	data, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", confPath, "-dnsserver", o.DNS)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PEBBLE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// No random sleeps before validating, no nonces refused at random,
	// and a fresh validation for every order (no authorization reuse),
	// so that renewals are validated too.
	cmd.Env = append(cmd.Env, "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pebbleServer{
		proc:   &serveProc{cmd: cmd, done: make(chan error, 1), added: make(chan struct{}), ended: make(chan struct{})},
		dirURL: "https://" + listen + "/dir", mgmt: mgmt, httpPort: ports[2], tlsPort: ports[3],
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}},
	}
	go readLines(p.proc, stdout)
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.proc.done
	})
	p.proc.waitLog(t, "ACME directory available at", 30*time.Second)
	// It prints that line just before it listens: the first request may
	// come a moment too early.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := p.client.Get(p.dirURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble's directory: %v; log:\n%s", err, p.proc.log())
		}
		<-time.After(20 * time.Millisecond)
	}
	return p
}

// readLines feeds a process's output to s's log, line by line.
func readLines(s *serveProc, r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		s.mu.Lock()
		s.lines = append(s.lines, sc.Text())
		close(s.added)
		s.added = make(chan struct{})
		s.mu.Unlock()
	}
	close(s.ended)
	s.done <- s.cmd.Wait()
}

// root returns the root of Pebble's chain, from its management API.
func (p *pebbleServer) root(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if resp.StatusCode != http.StatusOK || !pool.AppendCertsFromPEM(data) {
		t.Fatalf("pebble's root: %s: %q", resp.Status, data)
	}
	return pool
}

// issued counts the certificates Pebble has issued so far.
func (p *pebbleServer) issued() int {
	return strings.Count(p.proc.log(), "Issued certificate serial")
}

// handshake does a TLS handshake with addr sending serverName as SNI
// ("" sends none), verifies the chain against roots for the name want,
// and returns the connection.
func handshake(t *testing.T, addr, serverName, want string, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	conf := &tls.Config{ServerName: serverName, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, conf)
	if err != nil {
		t.Fatalf("TLS to %s (SNI %q): %v", addr, serverName, err)
	}
	t.Cleanup(func() { conn.Close() })
	st := conn.ConnectionState()
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := st.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: want, Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("TLS to %s (SNI %q): the certificate (%v, issuer %s) does not verify for %s: %v",
			addr, serverName, st.PeerCertificates[0].DNSNames, st.PeerCertificates[0].Issuer, want, err)
	}
	return conn
}
