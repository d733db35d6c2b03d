package imap

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"pillarbox/store/storetest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// testTLS returns a server config with a fresh self-signed certificate.
func testTLS(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// serveOn serves e's server on one more listener.
func (e *testEnv) serveOn(ln net.Listener) string {
	go e.srv.Serve(ln)
	return ln.Addr().String()
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("")
	caps := c.ok("CAPABILITY")[0]
	for _, want := range []string{"IMAP4rev1", "IMAP4rev2", "AUTH=PLAIN"} {
		if !strings.Contains(caps, " "+want) {
			t.Errorf("before login: %q lacks %s", caps, want)
		}
	}
	if strings.Contains(caps, "LOGINDISABLED") {
		t.Errorf("loopback listener says LOGINDISABLED: %q", caps)
	}
	c.ok("LOGIN alice@example.org " + testPassword)
	caps = c.ok("CAPABILITY")[0] + " "
	for _, want := range []string{"IMAP4rev1", "IMAP4rev2", "IDLE", "MOVE", "UIDPLUS", "NAMESPACE", "ESEARCH",
		"SEARCHRES", "LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "SPECIAL-USE", "CREATE-SPECIAL-USE",
		"LITERAL+", "UNSELECT", "ENABLE", "APPENDLIMIT=26214400", "CHILDREN", "BINARY"} {
		if !strings.Contains(caps, " "+want+" ") {
			t.Errorf("after login: %q lacks %s", caps, want)
		}
	}
	u := c.ok("NAMESPACE")
	contains(t, u, `* NAMESPACE (("" "/")) NIL NIL`)
}

func TestLoginNeedsTLSOffLoopback(t *testing.T) {
	t.Parallel()
	loc := storetest.New(t, pg)
	tlsConf := testTLS(t)
	e := newEnvAt(t, loc, Options{TLS: tlsConf}, true)
	// A listener on all interfaces is not loopback, even when reached
	// through 127.0.0.1.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on all interfaces: %v", err)
	}
	_, port, _ := net.SplitHostPort(e.serveOn(ln))
	addr := net.JoinHostPort("127.0.0.1", port)

	c := dialRaw(t, addr, "")
	caps := c.ok("CAPABILITY")[0]
	if !strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "AUTH=") {
		t.Errorf("plain connection off loopback: %q, want LOGINDISABLED and STARTTLS", caps)
	}
	c.expect("LOGIN alice@example.org "+testPassword, "NO [PRIVACYREQUIRED]")
	c.expect("AUTHENTICATE PLAIN "+plainIR("alice@example.org", testPassword), "NO [PRIVACYREQUIRED]")

	cl, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("alice@example.org", testPassword).Wait(); err != nil {
		t.Fatalf("login after STARTTLS: %v", err)
	}

	// Implicit TLS (RFC 8314).
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taddr := e.serveOn(tls.NewListener(tln, tlsConf))
	tc, err := imapclient.DialTLS(taddr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if tc.Caps().Has(imap.CapStartTLS) {
		t.Error("STARTTLS offered inside TLS")
	}
	if err := tc.Login("bob@example.org", testPassword).Wait(); err != nil {
		t.Fatalf("login over implicit TLS: %v", err)
	}
}

func plainIR(user, pass string) string {
	_, ir, _ := sasl.NewPlainClient("", user, pass).Start()
	return encodeB64(ir)
}

func TestAuthenticationFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("")
	// A wrong password and an unknown user get the same answer.
	_, st1 := c.cmd("LOGIN alice@example.org wrong")
	_, st2 := c.cmd("LOGIN nobody@example.org " + testPassword)
	_, st3 := c.cmd("LOGIN not-an-address " + testPassword)
	for _, st := range []string{st1, st2, st3} {
		if st != "NO [AUTHENTICATIONFAILED] Authentication failed" {
			t.Errorf("failed login: %q", st)
		}
	}
	c.expect("AUTHENTICATE PLAIN "+plainIR("alice@example.org", "bad"), "NO [AUTHENTICATIONFAILED]")
	c.ok("AUTHENTICATE PLAIN " + plainIR("alice@example.org", testPassword))

	cl, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	err = cl.Login("bob@example.org", "nope").Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("imapclient login with a bad password: %v", err)
	}
	if err := cl.Authenticate(sasl.NewPlainClient("", "bob@example.org", testPassword)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
}

func TestShutdownSaysBye(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	c.ok("SELECT INBOX")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after Shutdown: %q, want BYE", l)
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestLogoutAfterStartTLS: the answer to LOGOUT reaches the client
// before the connection closes, also under TLS (whose close sets a write
// deadline in the past).
func TestLogoutAfterStartTLS(t *testing.T) {
	t.Parallel()
	e := newEnvAt(t, storetest.New(t, pg), Options{TLS: testTLS(t)}, true)
	c, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("LOGOUT: %v", err)
	}
}
