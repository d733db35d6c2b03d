package main

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Through the built binary: the smarthost needs AUTH over STARTTLS and
// has a certificate from a private CA (smarthost_ca). A wrong password
// defers the mail with the 535 kept for `queue show`; with the right
// one, after a restart, the mail goes out.
func TestSmarthostLoginEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caPEM, serverTLS := e2eCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	pwFile := filepath.Join(dir, "smarthost-password")
	for f, b := range map[string][]byte{caFile: caPEM, pwFile: []byte("wrong\n")} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sink := startLoginSink(t, serverTLS, "relay-user", "relay-pw")
	cfg := writeServeConfig(t, filepath.Join(dir, "data"), func(c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		c.Relay.Smarthost = sink.addr
		c.Relay.SmarthostTLS = "starttls"
		c.Relay.SmarthostUser = "relay-user"
		c.Relay.SmarthostPasswordFile = pwFile
		c.Relay.SmarthostCA = caFile
		c.Relay.Retry = []Duration{{time.Second}}
	})
	mustCLI(t, "pw-alice\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)

	c := submissionLogin(t, srv.addrs["submission"], "client.example", "alice@example.test", "pw-alice", false)
	if err := c.SendMail("alice@example.test", []string{"bob@remote.test"},
		strings.NewReader("From: alice@example.test\r\nSubject: via smarthost\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	srv.waitLog(t, `msg="relay: deferred".*535 5.7.8`, 15*time.Second)
	srv.stop(t)

	list := mustCLI(t, "", "queue", "list", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 2 {
		t.Fatalf("queue list:\n%s", list)
	}
	show := mustCLI(t, "", "queue", "show", strings.Fields(lines[1])[0], "--config", cfg)
	if !strings.Contains(show, "refused the login: 535 5.7.8") || !strings.Contains(show, "certificate verified (smarthost)") {
		t.Errorf("queue show:\n%s", show)
	}
	if got := sink.logins(); len(got) == 0 || got[0] != "relay-user/wrong" {
		t.Errorf("logins %v", got)
	}

	if err := os.WriteFile(pwFile, []byte("relay-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv = startServer(t, cfg, dir)
	select {
	case m := <-sink.msgs:
		if !strings.Contains(m, "Subject: via smarthost") {
			t.Errorf("smarthost got:\n%s", m)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no message at the smarthost; log:\n%s", srv.log())
	}
	srv.waitLog(t, `msg="relay: delivered".*rcpt=bob@remote.test`, 10*time.Second)
	srv.stop(t)
}

// e2eCA makes a CA and a server configuration for 127.0.0.1 it signed,
// and returns the CA's PEM.
func e2eCA(t *testing.T) ([]byte, *tls.Config) {
	t.Helper()
	f := newTestCAFiles(t)
	caPEM, err := os.ReadFile(f.caPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(f.certPEM, f.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return caPEM, &tls.Config{Certificates: []tls.Certificate{cert}}
}

// loginSink is a smarthost that offers AUTH PLAIN over STARTTLS only
// and takes mail only after a login.
type loginSink struct {
	addr       string
	user, pass string
	msgs       chan string
	mu         sync.Mutex
	tried      []string
}

func startLoginSink(t *testing.T, tlsConf *tls.Config, user, pass string) *loginSink {
	t.Helper()
	s := &loginSink{user: user, pass: pass, msgs: make(chan string, 10)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &loginSession{s: s}, nil
	}))
	srv.Domain = "smarthost.test"
	srv.TLSConfig = tlsConf
	srv.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *loginSink) logins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tried...)
}

type loginSession struct {
	s      *loginSink
	authed bool
}

func (ls *loginSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ls *loginSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		ls.s.mu.Lock()
		ls.s.tried = append(ls.s.tried, user+"/"+pass)
		ls.s.mu.Unlock()
		if user != ls.s.user || pass != ls.s.pass {
			return gosmtp.ErrAuthFailed
		}
		ls.authed = true
		return nil
	}), nil
}

func (ls *loginSession) Mail(string, *gosmtp.MailOptions) error {
	if !ls.authed {
		return gosmtp.ErrAuthRequired
	}
	return nil
}

func (ls *loginSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }

func (ls *loginSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ls.s.msgs <- string(b)
	return nil
}

func (ls *loginSession) Reset()        {}
func (ls *loginSession) Logout() error { return nil }
