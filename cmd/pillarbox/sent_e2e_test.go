package main

import (
	"net"
	"net/mail"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sentScript is what a mail app does after sending, in Python: submit
// with smtplib (Bcc in the header, as apps write it), find the copy the
// server filed in Sent with imaplib, upload the app's own copy there,
// and see from a second session that one copy is left.
const sentScript = `
import imaplib, smtplib, ssl, sys, time
from email.utils import make_msgid
smtp_host, smtp_port, imap_host, imap_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
mode, before = sys.argv[5], sys.argv[6].encode()  # before: messages in Sent at the start
ctx = ssl._create_unverified_context()
msgid = make_msgid(domain="example.test")
msg = ("From: Alice <alice@example.test>\r\nTo: bob@remote.test\r\nBcc: carol@remote.test\r\n"
       "Subject: sent copy e2e\r\nMessage-ID: " + msgid + "\r\n\r\nHello from smtplib.\r\n").encode()

def imap():
    M = imaplib.IMAP4(imap_host, imap_port)
    M.starttls(ssl_context=ctx)
    M.login("alice@example.test", "secret-pw")
    return M

watcher = imap()
typ, data = watcher.select("Sent")
assert typ == "OK" and data == [before], data

s = smtplib.SMTP(smtp_host, smtp_port, local_hostname="client.example", timeout=30)
s.starttls(context=ctx)
s.login("alice@example.test", "secret-pw")
assert not s.sendmail("alice@example.test", ["bob@remote.test", "carol@remote.test"], msg)
s.quit()

app = imap()
typ, data = app.select("Sent")
if mode == "off":
    assert data == [before], ("save_sent = false, yet Sent holds", data)
    print("no copy")
    sys.exit(0)
assert data == [b"1"], data
typ, data = app.fetch("1", "(UID FLAGS BODY.PEEK[])")
meta, body = data[0]
assert b"\\Seen" in meta, meta
assert body.endswith(msg), body
assert b"Bcc: carol@remote.test" in body and b"Received: from client.example" in body, body
app.close()

typ, data = app.append("Sent", "(\\Seen)", imaplib.Time2Internaldate(time.time()), msg)
assert typ == "OK" and b"APPENDUID" in data[0], data
uid = data[0].split(b"APPENDUID ")[1].split(b" ")[1].rstrip(b"]")

typ, data = watcher.noop()
expunged = watcher.response("EXPUNGE")[1]
assert expunged == [b"1"], ("EXPUNGE seen by the other session", expunged)
typ, data = watcher.uid("SEARCH", None, "ALL")
assert data == [uid], ("Sent after the upload", data, uid)
typ, data = watcher.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
assert msgid.encode() in data[0][1], data
print("one copy, uid", uid.decode())
`

// TestSentCopyEndToEnd runs the binary with a smarthost sink: a message
// submitted with Python's smtplib is relayed without its Bcc, filed in
// the sender's Sent folder with it and \Seen, and when imaplib uploads
// the app's own copy, one copy remains and another session sees the
// EXPUNGE. With [submission] save_sent = false, Sent stays empty.
func TestSentCopyEndToEnd(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	sink := startRelaySink(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	config := func(save bool) string {
		return writeServeConfig(t, dataDir, func(c *Config) {
			c.Submission.Listen = "127.0.0.1:0"
			c.IMAP.Listen = "127.0.0.1:0"
			c.Relay.Smarthost = sink.addr
			c.Submission.SaveSent = save
		})
	}
	cfg := config(true)
	mustCLI(t, "secret-pw\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)

	run := func(srv *serveProc, mode, before string) string {
		t.Helper()
		sh, sp, _ := net.SplitHostPort(srv.addrs["submission"])
		ih, ip, _ := net.SplitHostPort(srv.addrs["imap"])
		out, err := exec.Command(python, "-c", sentScript, sh, sp, ih, ip, mode, before).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s\nserver log:\n%s", err, out, srv.log())
		}
		return strings.TrimSpace(string(out))
	}

	srv := startServer(t, cfg, dir)
	if out := run(srv, "on", "0"); out != "one copy, uid 2" {
		t.Errorf("python: %q, want the upload as UID 2 alone", out)
	}
	for _, rcpt := range []string{"bob@remote.test", "carol@remote.test"} {
		got := sink.wait(t, rcpt, 15*time.Second)
		if hasBcc(t, got.data) || !strings.Contains(got.data, "Subject: sent copy e2e") {
			t.Errorf("relayed to %s:\n%s", rcpt, got.data)
		}
	}
	srv.waitLog(t, `msg="smtp: submitted".*sent_folder=Sent sent_uid=1`, 5*time.Second)
	srv.waitLog(t, `msg="mailbox: sent copy replaced by the client's upload".*uid=2.*expunged=1`, 5*time.Second)
	srv.stop(t)

	// save_sent = false: the upload from the first run stays alone.
	srv = startServer(t, config(false), dir)
	if out := run(srv, "off", "1"); out != "no copy" {
		t.Errorf("python: %q", out)
	}
	sink.wait(t, "bob@remote.test", 15*time.Second)
	srv.waitLog(t, `msg="smtp: submitted".*sent_folder="" sent_uid=0`, 5*time.Second)
	srv.stop(t)
}

// hasBcc reports whether a relayed message's header has a Bcc field. It
// looks at field names only: "bcc" may well turn up in a DKIM signature.
func hasBcc(t *testing.T, data string) bool {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("relayed message: %v\n%s", err, data)
	}
	_, ok := m.Header["Bcc"]
	return ok
}
