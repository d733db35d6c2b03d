package smtp

import (
	"fmt"
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
	e := startMX(t, envOptions{})
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
}
