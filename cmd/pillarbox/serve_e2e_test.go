package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// TestServeEndToEnd runs the binary as an operator would: config, users
// from the CLI, serve, mail from real clients, a user added while serving,
// SIGTERM, and a restart that finds everything.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, nil)
	mustCLI(t, "pw-alice\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)

	srv := startServer(t, cfg, dir)
	addr := srv.addrs["smtp"]
	if addr == "" {
		t.Fatalf("no smtp address in log:\n%s", srv.log())
	}
	host, port, _ := net.SplitHostPort(addr)

	// A user added while serve runs receives mail at once.
	mustCLI(t, "pw-bobby1\n", "user", "add", "bob@example.test", "--password-stdin", "--config", cfg)
	mustCLI(t, "", "alias", "add", "team@example.test", "alice@example.test,bob@example.test", "--config", cfg)

	sent := 0
	if py, err := exec.LookPath("python3"); err == nil {
		script := fmt.Sprintf(`
import smtplib, ssl
s = smtplib.SMTP(%q, %s)
s.ehlo("py.example.net")
s.starttls(context=ssl._create_unverified_context())
s.ehlo("py.example.net")
s.sendmail("sender@example.net", ["team@example.test"], b"From: sender@example.net\r\nSubject: from python\r\nMessage-ID: <py1@example.net>\r\n\r\nhello from smtplib\r\n")
try:
    s.sendmail("sender@example.net", ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n")
    raise SystemExit("unknown user accepted")
except smtplib.SMTPRecipientsRefused as e:
    code, msg = e.recipients["nobody@example.test"]
    assert code == 550 and msg.startswith(b"5.1.1"), e
try:
    s.sendmail("sender@example.net", ["someone@elsewhere.example"], b"Subject: x\r\n\r\nx\r\n")
    raise SystemExit("relayed")
except smtplib.SMTPRecipientsRefused as e:
    code, msg = e.recipients["someone@elsewhere.example"]
    assert code == 554 and msg.startswith(b"5.7.1"), e
s.quit()
`, host, port)
		if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("python smtplib: %v\n%s", err, out)
		}
		sent++
	} else {
		t.Log("python3 not installed; skipping the smtplib client")
	}
	if swaks, err := exec.LookPath("swaks"); err == nil {
		out, err := exec.Command(swaks, "--server", host, "--port", port, "--tls",
			"--from", "sender@example.net", "--to", "alice+swaks@example.test",
			"--h-Message-Id", "<swaks1@example.net>", "--body", "hello from swaks").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		sent++
	} else {
		t.Log("swaks not installed; skipping it")
	}
	// go-smtp's client always runs, so the test checks delivery even
	// where neither tool is installed.
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("sender@example.net", []string{"bob@example.test"}, strings.NewReader("Subject: go\r\nMessage-ID: <go1@example.net>\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	srv.stop(t)
	if !strings.Contains(srv.log(), "msg=\"smtp: received\"") || !strings.Contains(srv.log(), "message_id=go1@example.net") {
		t.Errorf("no log line per accepted message:\n%s", srv.log())
	}

	// Everything is there after the restart.
	srv = startServer(t, cfg, dir)
	srv.stop(t)
	db, _ := openDataDir(t, data)
	alice := messageIDs(t, db, "alice@example.test", "INBOX")
	bob := messageIDs(t, db, "bob@example.test", "INBOX")
	if _, err := exec.LookPath("python3"); err == nil && (alice["py1@example.net"] != 1 || bob["py1@example.net"] != 1) {
		t.Errorf("python message: alice %v, bob %v", alice, bob)
	}
	if _, err := exec.LookPath("swaks"); err == nil && alice["swaks1@example.net"] != 1 {
		t.Errorf("swaks message missing: %v", alice)
	}
	if bob["go1@example.net"] != 1 {
		t.Errorf("go message missing: %v", bob)
	}
}

// TestCrashKeepsEveryAcknowledgedMessage kills the server with SIGKILL
// while ten clients send, restarts it, and checks that every message that
// got a 250 is stored exactly once.
func TestCrashKeepsEveryAcknowledgedMessage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, nil)
	mustCLI(t, "password\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	addr := srv.addrs["smtp"]

	const senders = 10
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	stopped := make(chan error, senders)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gosmtp.Dial(addr)
			if err != nil {
				stopped <- err
				return
			}
			defer c.Close()
			for j := 0; ; j++ {
				id := fmt.Sprintf("crash-%d-%d@example.net", i, j)
				msg := fmt.Sprintf("Subject: %d/%d\r\nMessage-ID: <%s>\r\n\r\n%s\r\n", i, j, id, strings.Repeat("x", 2000))
				w, err := startData(c, "s@example.net", "alice@example.test")
				if err != nil {
					stopped <- err
					return
				}
				io.WriteString(w, msg)
				if err := w.Close(); err != nil {
					stopped <- err
					return // no 250: may or may not be stored
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) >= 300 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case err := <-stopped:
		t.Fatalf("a sender stopped before the crash: %v", err)
	}
	srv.kill()
	wg.Wait()

	srv = startServer(t, cfg, dir)
	srv.stop(t)
	db, _ := openDataDir(t, data)
	stored := messageIDs(t, db, "alice@example.test", "INBOX")
	for _, id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged message %s stored %d times", id, stored[id])
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("message %s stored %d times", id, n)
		}
	}
	t.Logf("%d acknowledged before SIGKILL, %d stored", len(acked), len(stored))
}

// TestDiskFull puts the data dir on a small tmpfs, fills it until the
// server answers 452 4.3.1, checks that the server still serves and that
// nothing accepted was lost, then grows the tmpfs and sends again.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	data := filepath.Join(mnt, "data")
	// The full disk is the SQLite store's, whatever store the suite runs on.
	cfg := writeServeConfig(t, data, sqliteStore)
	mustCLI(t, "password\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	srv := startServer(t, cfg, dir)
	addr := srv.addrs["smtp"]

	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := strings.Repeat(strings.Repeat("y", 76)+"\r\n", 1300) // ~100 KB
	var acked []string
	full := false
	for i := 0; i < 200 && !full; i++ {
		id := fmt.Sprintf("full-%d@example.net", i)
		err := c.SendMail("s@example.net", []string{"alice@example.test"}, strings.NewReader("Message-ID: <"+id+">\r\n\r\n"+body))
		var se *gosmtp.SMTPError
		switch {
		case err == nil:
			acked = append(acked, id)
		case errors.As(err, &se) && se.Code == 452 && se.EnhancedCode == (gosmtp.EnhancedCode{4, 3, 1}):
			full = true
		default:
			t.Fatalf("message %d: %v, want 250 or 452 4.3.1", i, err)
		}
	}
	if !full {
		t.Fatal("never got 452 4.3.1 on a 4 MB disk")
	}
	// The server still talks to others.
	c2, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Noop(); err != nil {
		t.Fatal(err)
	}
	c2.Close()

	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("growing the tmpfs: %v %s", err, out)
	}
	if err := c.SendMail("s@example.net", []string{"alice@example.test"}, strings.NewReader("Message-ID: <after@example.net>\r\n\r\n"+body)); err != nil {
		t.Fatalf("after space returned: %v", err)
	}
	acked = append(acked, "after@example.net")
	srv.stop(t)
	db, _ := openDataDir(t, data)
	stored := messageIDs(t, db, "alice@example.test", "INBOX")
	for _, id := range acked {
		if stored[id] != 1 {
			t.Errorf("accepted message %s stored %d times", id, stored[id])
		}
	}
	t.Logf("%d accepted before the disk filled", len(acked)-1)
	_ = context.Background
}

// startData runs MAIL and RCPT and opens DATA.
func startData(c *gosmtp.Client, from, to string) (io.WriteCloser, error) {
	if err := c.Mail(from, nil); err != nil {
		return nil, err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return nil, err
	}
	return c.Data()
}
