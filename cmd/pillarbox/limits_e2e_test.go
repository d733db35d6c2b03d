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
	srv.waitLog(t, `msg="connection limits" per_listener=4 per_ip=2 listeners=2`, time.Second)

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
	srv.waitLog(t, `connections refused, over the cap`, 10*time.Second)

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
