package smtp

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSlowDataWithinDataTimeout: a message transfer is bounded by
// DataTimeout alone, from the 354 to its end (Options.DataTimeout), not
// by ReadTimeout, the wait for one command line. go-smtp sets the read
// deadline only when it waits for a command, so the deadline set for the
// DATA command line went on bounding the message: with a command
// timeout shorter than the data timeout (RFC 5321 4.5.3.2's 5 minutes
// and 10), a message that took longer than the command timeout was cut
// off with 421 4.4.2.
func TestSlowDataWithinDataTimeout(t *testing.T) {
	t.Parallel()
	e := startMX(t, envOptions{opts: Options{ReadTimeout: 300 * time.Millisecond, DataTimeout: time.Minute}})
	tc, nc := rawConn(t, e.addr)
	cmd(t, tc, "EHLO client.example.net", 250)
	cmd(t, tc, "MAIL FROM:<zoe@example.net>", 250)
	cmd(t, tc, "RCPT TO:<carol@example.org>", 250)
	cmd(t, tc, "DATA", 354)
	// A line every 50 ms, each well within ReadTimeout, for 2.5 times
	// ReadTimeout in all.
	var body strings.Builder
	body.WriteString("Subject: slow\r\n\r\n")
	io.WriteString(nc, body.String())
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := range 15 {
		<-tick.C
		line := fmt.Sprintf("line %d\r\n", i)
		body.WriteString(line)
		if _, err := io.WriteString(nc, line); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
	}
	io.WriteString(nc, ".\r\n")
	if code, msg, err := tc.ReadResponse(250); err != nil {
		t.Fatalf("a message sent within DataTimeout got %d %s (%v)", code, msg, err)
	}
	if got := lastMessage(t, e, "carol@example.org"); !strings.HasSuffix(got, body.String()) {
		t.Fatalf("stored %q", got)
	}
	// The command timeout applies again after the transfer.
	cmd(t, tc, "NOOP", 250)
}
