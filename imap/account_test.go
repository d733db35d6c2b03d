package imap

import (
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestUnauthenticate: RFC 8437: back to the not-authenticated state,
// where a mailbox command is refused and another login works.
func TestUnauthenticate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.raw("alice")
	c.ok("SELECT INBOX")
	c.ok("UNAUTHENTICATE")
	c.expect("SELECT INBOX", "BAD")
	c.expect("NOOP", "OK")
	c.ok("LOGIN bob@example.org " + testPassword)
	c.ok("SELECT INBOX")
}

// TestQuotaCommands: RFC 9208 GETQUOTAROOT and GETQUOTA show the
// account's storage quota in KiB; SETQUOTA is the administrator's.
func TestQuotaCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	c := e.raw("alice")
	u := c.ok("GETQUOTAROOT INBOX")
	contains(t, u, `* QUOTAROOT INBOX ""`)
	contains(t, u, `* QUOTA "" ()`) // no limit set
	if err := e.svc.SetQuota(context.Background(), "alice@example.org", 10<<20); err != nil {
		t.Fatal(err)
	}
	contains(t, c.ok(`GETQUOTA ""`), `* QUOTA "" (STORAGE 1 10240)`)
	c.expect(`GETQUOTA "other"`, "NO [NONEXISTENT]")
	c.expect("GETQUOTAROOT Nowhere", "NO")
	c.expect(`SETQUOTA "" (STORAGE 1)`, "NO [NOPERM]")
}

// TestCompress: RFC 4978: after COMPRESS DEFLATE's OK both directions
// are raw DEFLATE; a second COMPRESS is refused.
func TestCompress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	c := e.raw("alice")
	c.expect("COMPRESS GZIP", "BAD")
	c.ok("COMPRESS DEFLATE")
	fw, err := flate.NewWriter(c.c, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	// The client's side of the stream: what it reads comes from c.r
	// (whose buffer is empty after the OK line).
	if n := c.r.Buffered(); n != 0 {
		t.Fatalf("%d bytes after COMPRESS's OK", n)
	}
	zr := bufio.NewReader(flate.NewReader(c.r))
	send := func(line string) []string {
		t.Helper()
		fmt.Fprintf(fw, "%s\r\n", line)
		if err := fw.Flush(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			l, err := zr.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v after %q", line, err, got)
			}
			got = append(got, strings.TrimRight(l, "\r\n"))
			if strings.HasPrefix(l, "z ") {
				return got
			}
		}
	}
	u := send("z SELECT INBOX")
	if !strings.HasPrefix(u[len(u)-1], "z OK") {
		t.Fatalf("SELECT through DEFLATE: %q", u)
	}
	u = send("z FETCH 1 BODY.PEEK[]")
	if !strings.Contains(strings.Join(u, "\n"), "Subject: message 1") {
		t.Errorf("FETCH through DEFLATE: %q", u)
	}
	u = send("z COMPRESS DEFLATE")
	if !strings.HasPrefix(u[len(u)-1], "z NO [COMPRESSIONACTIVE]") {
		t.Errorf("second COMPRESS: %q", u)
	}
	io.WriteString(fw, "z LOGOUT\r\n")
	fw.Flush()
}
