package main

import (
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// TestEmbeddedDefault runs `pillarbox serve` with no config, as the
// README's first command does: data in ./pillarbox-data, SMTP on
// 127.0.0.1:2525, postmaster@localhost created with its password printed,
// a self-signed certificate for STARTTLS, and the admin listener on
// 127.0.0.1:2780.
func TestEmbeddedDefault(t *testing.T) {
	// Not parallel: it needs the fixed default ports.
	for _, addr := range []string{"127.0.0.1:2525", "127.0.0.1:2780"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("default port %s is busy: %v", addr, err)
		}
		ln.Close()
	}
	dir := t.TempDir()
	cmd := exec.Command(binPath, "serve")
	cmd.Dir = dir
	var stdout lockedBuffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if err := waitReady(stderr, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	if !strings.Contains(out, "created postmaster@localhost with password ") {
		t.Fatalf("first start did not print the postmaster password: %q", out)
	}
	password := strings.Fields(strings.SplitAfter(out, "with password ")[1])[0]
	for _, f := range []string{"pillarbox.db", "tls-cert.pem", "tls-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, "pillarbox-data", f)); err != nil {
			t.Errorf("data dir lacks %s: %v", f, err)
		}
	}
	c, err := gosmtp.DialStartTLS("127.0.0.1:2525", &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("STARTTLS on the default port: %v", err)
	}
	if err := c.SendMail("someone@example.net", []string{"postmaster@localhost"}, strings.NewReader("From: someone@example.net\r\nSubject: hi\r\n\r\nfirst message\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	if code, body := get(t, "GET", "http://127.0.0.1:2780/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("default admin listener's /healthz: %d %q", code, body)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGINT: %v", err)
	}
	_, svc := openDataDir(t, filepath.Join(dir, "pillarbox-data"))
	if n, err := svc.Count(t.Context(), "postmaster@localhost", "INBOX"); err != nil || n != 1 {
		t.Fatalf("postmaster INBOX: %d, %v", n, err)
	}
	if _, err := svc.Authenticate(t.Context(), "postmaster@localhost", password); err != nil {
		t.Fatalf("printed password does not log in: %v", err)
	}
}
