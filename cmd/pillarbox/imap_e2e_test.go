package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"
)

// smtpSend delivers one message through the MX listener.
func smtpSend(t *testing.T, addr, to, subject string) {
	t.Helper()
	smtpSendDated(t, addr, to, subject, time.Time{})
}

// smtpSendDated delivers one message through the MX listener with
// go-smtp's client, with a Date field unless date is zero.
func smtpSendDated(t *testing.T, addr, to, subject string, date time.Time) {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	header := fmt.Sprintf("From: Sender <sender@example.net>\r\nTo: %s\r\nSubject: %s\r\n", to, subject)
	if !date.IsZero() {
		header += "Date: " + date.Format(time.RFC1123Z) + "\r\n"
	}
	msg := header + fmt.Sprintf("Message-ID: <%s@example.net>\r\n\r\nThis is the body of %s.\r\n",
		strings.ReplaceAll(subject, " ", "-"), subject)
	if err := c.SendMail("sender@example.net", []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
}

// TestIMAPEndToEnd runs the binary and reads mail with the IMAP clients
// people use: Go's imapclient (with IDLE), curl, Python's imaplib and
// mbsync. Clients that are not installed are skipped.
func TestIMAPEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, func(c *Config) {
		c.IMAP.Listen = "127.0.0.1:0"
		c.IMAP.ListenTLS = "127.0.0.1:0"
	})
	const user, pass = "alice@example.test", "pw-alice"
	mustCLI(t, pass+"\n", "user", "add", user, "--password-stdin", "--config", cfg)

	srv := startServer(t, cfg, dir)
	smtpAddr, imapAddr, imapsAddr := srv.addrs["smtp"], srv.addrs["imap"], srv.addrs["imaps"]
	if smtpAddr == "" || imapAddr == "" || imapsAddr == "" {
		t.Fatalf("listeners %v; log:\n%s", srv.addrs, srv.log())
	}
	host, port, _ := net.SplitHostPort(imapAddr)
	_, tlsPort, _ := net.SplitHostPort(imapsAddr)

	// A session in IDLE sees SMTP deliveries.
	c, err := imapclient.DialInsecure(imapAddr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	smtpSend(t, smtpAddr, user, "first message")
	smtpSend(t, smtpAddr, user, "second message")
	deadline := time.Now().Add(5 * time.Second)
	for c.Mailbox().NumMessages < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Fatalf("IDLE saw %d messages, want 2", n)
	}

	if curl, err := exec.LookPath("curl"); err == nil {
		run := func(args ...string) string {
			t.Helper()
			args = append([]string{"-sS", "--max-time", "20", "--user", user + ":" + pass}, args...)
			out, err := exec.Command(curl, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl %q: %v\n%s", args, err, out)
			}
			return string(out)
		}
		base := "imap://" + imapAddr
		if out := run(base + "/"); !strings.Contains(out, `"/" INBOX`) || !strings.Contains(out, `\Sent`) {
			t.Errorf("curl LIST: %q", out)
		}
		if out := run(base + "/INBOX;UID=1"); !strings.Contains(out, "Subject: first message") {
			t.Errorf("curl FETCH UID 1: %q", out)
		}
		if out := run(base + "/INBOX?SUBJECT%20second"); !strings.Contains(out, "* SEARCH 2") {
			t.Errorf("curl SEARCH: %q", out)
		}
		if out := run("--ssl-reqd", "-k", base+"/INBOX;MAILINDEX=2"); !strings.Contains(out, "Subject: second message") {
			t.Errorf("curl with STARTTLS: %q", out)
		}
		if out := run("-k", "imaps://"+imapsAddr+"/INBOX;UID=2;SECTION=TEXT"); !strings.Contains(out, "body of second message") {
			t.Errorf("curl imaps: %q", out)
		}
		upload := filepath.Join(dir, "upload.eml")
		os.WriteFile(upload, []byte("From: alice@example.test\r\nSubject: uploaded by curl\r\n\r\nhi\r\n"), 0o600)
		run("-T", upload, base+"/Drafts")
		if out := run(base+"/Drafts", "-X", "UID SEARCH SUBJECT curl"); !strings.Contains(out, "* SEARCH 1") {
			t.Errorf("curl APPEND then SEARCH: %q", out)
		}
	} else {
		t.Log("curl not installed; skipping it")
	}

	if py, err := exec.LookPath("python3"); err == nil {
		script := fmt.Sprintf(`
import imaplib, ssl, time
ctx = ssl._create_unverified_context()
M = imaplib.IMAP4(%[1]q, %[2]s)
M.starttls(ssl_context=ctx)
M.login(%[4]q, %[5]q)
typ, data = M.select("INBOX")
assert typ == "OK" and data == [b"2"], (typ, data)
typ, data = M.search(None, "SUBJECT", '"second"')
assert data == [b"2"], data
typ, data = M.uid("SEARCH", None, "BODY", "first")
assert data == [b"1"], data
typ, data = M.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert typ == "OK" and b"first message" in data[0][1], data
typ, data = M.store("1", "+FLAGS", "(\\Flagged)")
assert typ == "OK" and b"\\Flagged" in data[0], data
typ, data = M.append("Sent", "(\\Seen)", imaplib.Time2Internaldate(time.time()), b"From: alice@example.test\r\nSubject: sent by python\r\n\r\nbody\r\n")
assert typ == "OK" and b"APPENDUID" in data[0], data
typ, data = M.copy("2", "Archive")
assert typ == "OK", data
assert M.create("Py/Sub")[0] == "OK"
assert M.rename("Py", "Python")[0] == "OK"
typ, data = M.list('""', "Python*")
assert typ == "OK" and len(data) == 2, data
typ, data = M.status("Archive", "(MESSAGES UNSEEN UIDNEXT)")
assert typ == "OK" and b"MESSAGES 1" in data[0], data
assert M.delete("Python/Sub")[0] == "OK"
M.logout()

S = imaplib.IMAP4_SSL(%[1]q, %[3]s, ssl_context=ctx)
S.login(%[4]q, %[5]q)
typ, data = S.select("Sent", readonly=True)
assert data == [b"1"], data
typ, data = S.fetch("1", "(FLAGS)")
assert b"\\Seen" in data[0], data
S.logout()
`, host, port, tlsPort, user, pass)
		if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("python imaplib: %v\n%s", err, out)
		}
	} else {
		t.Log("python3 not installed; skipping imaplib")
	}

	if mbsync, err := exec.LookPath("mbsync"); err == nil {
		local := filepath.Join(dir, "maildir")
		os.MkdirAll(local, 0o700)
		rc := filepath.Join(dir, "mbsyncrc")
		os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount pb
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore pb-far
Account pb

MaildirStore pb-near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel pb
Far :pb-far:
Near :pb-near:
Patterns *
Create Both
SyncState *
`, host, port, user, pass, local, local)), 0o600)
		sync := func() {
			t.Helper()
			out, err := exec.Command(mbsync, "-c", rc, "-a").CombinedOutput()
			if err != nil {
				t.Fatalf("mbsync: %v\n%s", err, out)
			}
		}
		sync()
		inbox, _ := filepath.Glob(filepath.Join(local, "INBOX", "*", "*"))
		if len(inbox) != 2 {
			t.Errorf("mbsync fetched %d INBOX messages, want 2: %v", len(inbox), inbox)
		}
		if arch, _ := filepath.Glob(filepath.Join(local, "Archive", "*", "*")); len(arch) != 1 {
			t.Errorf("mbsync fetched %d Archive messages, want 1", len(arch))
		}
		// A message filed locally goes up on the next sync.
		os.WriteFile(filepath.Join(local, "Archive", "new", "1.local"), []byte("From: alice@example.test\r\nSubject: from mbsync\r\n\r\nlocal\r\n"), 0o600)
		sync()
		st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != 2 {
			t.Errorf("Archive after mbsync push: %+v %v", st, err)
		}
	} else {
		t.Log("mbsync not installed; skipping it")
	}

	// The state survives a restart: UIDVALIDITY, UIDs and flags.
	before, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	flagsBefore := fetchFlags(t, c)
	c.Logout().Wait()
	srv.stop(t)

	srv = startServer(t, cfg, dir)
	c2, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	after, err := c2.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if after.UIDValidity != before.UIDValidity || after.UIDNext != before.UIDNext || after.NumMessages != before.NumMessages {
		t.Errorf("INBOX after restart %+v, before %+v", after, before)
	}
	if flagsAfter := fetchFlags(t, c2); !slices.Equal(flagsAfter, flagsBefore) || !strings.Contains(flagsBefore[0], `\Flagged`) {
		t.Errorf("flags after restart %q, before %q", flagsAfter, flagsBefore)
	}
	srv.stop(t)
}

func fetchFlags(t *testing.T, c *imapclient.Client) []string {
	t.Helper()
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%d %v", m.UID, m.Flags))
	}
	return out
}
