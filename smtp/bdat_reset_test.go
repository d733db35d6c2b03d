package smtp

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// TestBDATResetMidMessage: a client that sends a BDAT chunk and then RSET
// (or MAIL, which resets too) while the message is still being read
// ends the transfer cleanly, and the next transaction on the connection
// is delivered with its own envelope. go-smtp runs Data in a goroutine
// of its own during BDAT and resets the session from the connection's
// goroutine without waiting for it: the session's envelope was read by
// the one while the other cleared it (a data race under -race).
func TestBDATResetMidMessage(t *testing.T) {
	t.Parallel()
	var log lockedLog
	e := startMX(t, envOptions{opts: Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	for i := range 10 {
		cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
		cmd(t, tc, "RCPT TO:<alice@example.org>", 250)
		chunk := fmt.Sprintf("Subject: part %d\r\n\r\n", i)
		fmt.Fprintf(nc, "BDAT %d\r\n%s", len(chunk), chunk)
		if _, _, err := tc.ReadResponse(250); err != nil {
			t.Fatalf("BDAT chunk: %v", err)
		}
		cmd(t, tc, "RSET", 250)
	}
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<bob@example.org>", 250)
	msg := "Subject: whole\r\n\r\nhi\r\n"
	fmt.Fprintf(nc, "BDAT %d LAST\r\n%s", len(msg), msg)
	if _, _, err := tc.ReadResponse(250); err != nil {
		t.Fatalf("BDAT LAST: %v", err)
	}
	if n := inboxCount(t, e, "alice@example.org"); n != 0 {
		t.Errorf("alice has %d messages from the reset transfers, want 0", n)
	}
	if n := inboxCount(t, e, "bob@example.org"); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
	// A transfer the client reset is not a refusal.
	if strings.Contains(log.String(), "command=DATA") {
		t.Errorf("a reset BDAT transfer logged as refused:\n%s", log.String())
	}
}

// lockedLog is a log buffer the server writes from its goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestBDATEmptyChunk: an empty chunk that is not the LAST is refused
// before go-smtp starts a goroutine for it; pipelined with RSET and
// further transfers it used to leave that goroutine to run late, read
// the next transfer's envelope and answer it (or block for good), and
// the session's Reset to wait on it for ever. Every command gets its
// reply, in order, and "BDAT 0 LAST" still ends a message.
func TestBDATEmptyChunk(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	var b []byte
	const reps = 200
	for range reps {
		b = append(b, "MAIL FROM:<zoe@example.net>\r\nRCPT TO:<alice@example.org>\r\nBDAT 0\r\nRSET\r\n"...)
		b = append(b, "MAIL FROM:<zoe@example.net>\r\nRCPT TO:<alice@example.org>\r\nBDAT 3\r\nabcRSET\r\n"...)
	}
	b = append(b, "NOOP\r\n"...)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	for i := range reps {
		for j, want := range []int{250, 250, 501, 250, 250, 250, 250, 250} {
			code, msg, err := tc.ReadResponse(want)
			if err != nil {
				t.Fatalf("round %d, reply %d: %d %s (%v), want %d", i, j, code, msg, err, want)
			}
			if j == 2 && msg != "5.5.4 An empty BDAT chunk must be the LAST" {
				t.Fatalf("empty chunk: %d %q", code, msg)
			}
		}
	}
	if code, m, err := tc.ReadResponse(250); err != nil {
		t.Fatalf("NOOP after the rounds: %d %s %v", code, m, err)
	}
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<bob@example.org>", 250)
	msg := "Subject: zero last\r\n\r\nhi\r\n"
	fmt.Fprintf(nc, "BDAT %d\r\n%sBDAT 0 LAST\r\n", len(msg), msg)
	for _, want := range []int{250, 250} {
		if code, m, err := tc.ReadResponse(want); err != nil {
			t.Fatalf("chunk then BDAT 0 LAST: %d %s %v", code, m, err)
		}
	}
	if n := inboxCount(t, e, "bob@example.org"); n != 1 {
		t.Fatalf("bob has %d messages, want 1", n)
	}
}
