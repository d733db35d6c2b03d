package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// TestConnectionCapsEndToEnd: with [limits] set, the built server
// refuses a client's connection over the per-address cap at once, with
// SMTP's 421 4.7.0 and IMAP's BYE, while other clients are still served.
func TestConnectionCapsEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, func(c *Config) {
		c.IMAP.Listen = "127.0.0.1:0"
		c.Limits.MaxConnections = 4
		c.Limits.MaxConnectionsPerIP = 2
	})
	mustCLI(t, "pw-alice\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	srv.waitLog(t, `msg="connection limits" per_listener=4 per_ip=2 total=\d+ listeners=2`, time.Second)

	dialFrom := func(src, addr string) (net.Conn, *bufio.Reader) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	greeted := func(src, addr, prefix string) {
		t.Helper()
		_, r := dialFrom(src, addr)
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, prefix) {
			t.Fatalf("connection from %s: greeting %q, %v", src, l, err)
		}
	}
	refused := func(src, addr, want string) {
		t.Helper()
		_, r := dialFrom(src, addr)
		got, err := io.ReadAll(r)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("refused connection: %v", err)
		}
		if string(got) != want {
			t.Fatalf("connection over the cap got %q, want %q", got, want)
		}
	}

	smtpAddr, imapAddr := srv.addrs["smtp"], srv.addrs["imap"]
	for range 2 {
		greeted("127.0.0.1", smtpAddr, "220 ")
		greeted("127.0.0.1", imapAddr, "* OK ")
	}
	refused("127.0.0.1", smtpAddr, "421 4.7.0 mx.example.test Too many connections, try later\r\n")
	refused("127.0.0.1", imapAddr, "* BYE [UNAVAILABLE] Too many connections\r\n")
	srv.waitLog(t, `connections refused.*last_reason=max_connections_per_ip`, 10*time.Second)

	// Another client is served meanwhile.
	nc, _ := dialFrom("127.0.0.2", smtpAddr)
	c := gosmtp.NewClient(nc)
	defer c.Close()
	if err := c.SendMail("zoe@example.net", []string{"alice@example.test"},
		strings.NewReader("Subject: served\r\nMessage-ID: <capped1@example.net>\r\n\r\nhi\r\n")); err != nil {
		t.Fatalf("a client within the caps: %v", err)
	}
	srv.waitLog(t, `smtp: received.*message_id=capped1@example.net`, 10*time.Second)
}

// TestRatesEndToEnd: with [limits] rates and no loopback exemption, the
// built server refuses a client's connection over its per-minute rate
// with 421 4.7.0 and its message over the message rate, counted over the
// MX and submission together, with 450 4.7.0, while a client from
// another address is still served; each refusal is logged.
func TestRatesEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, func(c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		c.Limits.ConnectionsPerMinute = 3
		c.Limits.MessagesPerMinute = 2
		c.Limits.RateExempt = []string{}
	})
	mustCLI(t, "pw-alice-1\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	smtpAddr, subAddr := srv.addrs["smtp"], srv.addrs["submission"]

	dial := func(src, addr string) *gosmtp.Client {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		c := gosmtp.NewClient(nc)
		t.Cleanup(func() { c.Close() })
		if err := c.Hello("client.example.net"); err != nil {
			t.Fatalf("EHLO from %s: %v", src, err)
		}
		return c
	}
	msg := func(id string) io.Reader {
		return strings.NewReader("From: alice@example.test\r\nSubject: rate\r\nMessage-ID: <" + id + "@example.test>\r\n\r\nhi\r\n")
	}
	// One message on the MX and one on submission spend 127.0.0.1's two.
	mx := dial("127.0.0.1", smtpAddr)
	if err := mx.SendMail("zoe@example.net", []string{"alice@example.test"}, msg("rate1")); err != nil {
		t.Fatalf("first message: %v", err)
	}
	sub := dial("127.0.0.1", subAddr)
	if err := sub.Auth(sasl.NewPlainClient("", "alice@example.test", "pw-alice-1")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := sub.SendMail("alice@example.test", []string{"alice@example.test"}, msg("rate2")); err != nil {
		t.Fatalf("second message, on submission: %v", err)
	}
	err := mx.SendMail("zoe@example.net", []string{"alice@example.test"}, msg("rate3"))
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 450 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 7, 0}) {
		t.Fatalf("third message: %v, want 450 4.7.0", err)
	}
	srv.waitLog(t, `smtp: refused" command=MAIL .*SMTP error 450: Too many messages.* remote=127\.0\.0\.1`, 10*time.Second)
	if err := dial("127.0.0.2", smtpAddr).SendMail("zoe@example.net", []string{"alice@example.test"}, msg("rate4")); err != nil {
		t.Fatalf("another client: %v", err)
	}

	// 127.0.0.1 has connected once to the MX: two more are allowed, the
	// next refused.
	dial("127.0.0.1", smtpAddr)
	dial("127.0.0.1", smtpAddr)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(nc)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	if want := "421 4.7.0 mx.example.test Too many connections, try later\r\n"; string(got) != want {
		t.Fatalf("connection over the rate got %q, want %q", got, want)
	}
	srv.waitLog(t, `connections refused.*last_reason=connections_per_minute`, 10*time.Second)
	dial("127.0.0.2", smtpAddr)
}

// TestSlowDataCutOff: a client dribbling its message a byte at a time is
// cut off at [limits] smtp_data_timeout with 421 4.4.2, and nothing of
// it is stored.
func TestSlowDataCutOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, func(c *Config) {
		c.Limits.SMTPDataTimeout = Duration{2 * time.Second}
	})
	mustCLI(t, "pw-alice-1\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	nc, err := net.DialTimeout("tcp", srv.addrs["smtp"], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(nc)
	expect := func(send, prefix string) {
		t.Helper()
		if send != "" {
			io.WriteString(nc, send)
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", send, err)
			}
			if !strings.HasPrefix(l, prefix) {
				t.Fatalf("after %q: %q, want %s", send, l, prefix)
			}
			if len(l) > 3 && l[3] == ' ' {
				return
			}
		}
	}
	expect("", "220")
	expect("EHLO slow.example.net\r\n", "250")
	expect("MAIL FROM:<zoe@example.net>\r\n", "250")
	expect("RCPT TO:<alice@example.test>\r\n", "250")
	expect("DATA\r\n", "354")
	start := time.Now()
	// A byte every 100 ms: far slower than any real client, and each
	// byte well within the per-command timeout.
	done := make(chan string, 1)
	go func() {
		l, _ := r.ReadString('\n')
		done <- l
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	body := "Subject: slow\r\n\r\n" + strings.Repeat("x", 1000)
	for i := 0; ; i++ {
		select {
		case l := <-done:
			if !strings.HasPrefix(l, "421 4.4.2") {
				t.Fatalf("dribbled DATA got %q, want 421 4.4.2", l)
			}
			// The server's clock starts as it writes the 354, a little
			// before this one.
			if el := time.Since(start); el < 1500*time.Millisecond || el > 20*time.Second {
				t.Fatalf("cut off after %v, want about 2 s", el)
			}
			if _, err := r.ReadByte(); err == nil {
				t.Fatal("connection still open after 421")
			}
			db, _ := openDataDir(t, data)
			if ids := messageIDs(t, db, "alice@example.test", "INBOX"); len(ids) != 0 {
				t.Fatalf("stored %d messages from the cut-off transfer", len(ids))
			}
			return
		case <-tick.C:
			if i < len(body) {
				nc.Write([]byte{body[i]})
			}
		}
	}
}
