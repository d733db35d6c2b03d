package main

import (
	"bytes"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store"
)

// hostile is text a remote sender or server controls: a Message-ID, an
// address, a reply line, a header. Raw, its escape sequences would clear
// the operator's screen and retitle the terminal (OSC 0), and C1 CSI
// (U+009B) does the same on terminals that take 8-bit controls.
const hostile = "a\x1b]0;PWNED\x07\x1b[2J\x9b2J\u009b31m\x7f\rb"

// checkPrintable fails when out holds a control character other than
// the newlines that end its lines.
func checkPrintable(t *testing.T, what string, out []byte) {
	t.Helper()
	for _, r := range string(out) {
		if r == '\n' {
			continue
		}
		if r < ' ' || r == 0x7f || r >= 0x80 && r <= 0x9f {
			t.Errorf("%s writes control character %U to the terminal:\n%q", what, r, out)
			return
		}
	}
}

// TestTraceOutputIsPrintable checks that `pillarbox trace` does not pass
// a Message-ID or an address from the network to the terminal raw: any
// sender on the internet picks the Message-ID of its mail.
func TestTraceOutputIsPrintable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	printHistory(&env{stdout: &out}, []mailbox.HistoryEvent{{At: time.Unix(0, 0), Event: "received", BlobID: 1,
		MessageID: hostile + "@evil.test", Address: hostile + "@evil.test", Detail: hostile}})
	checkPrintable(t, "trace", out.Bytes())
}

// TestQueueOutputIsPrintable checks that `pillarbox queue list` and
// `queue show` do not pass what remote servers and senders wrote (the
// last reply, the message's header, its Message-ID, the DSN parameters)
// to the terminal raw.
func TestQueueOutputIsPrintable(t *testing.T) {
	t.Parallel()
	it := mailbox.QueueItem{ID: 1, Sender: hostile + "@evil.test", Recipient: hostile + "@evil.test", State: "queued",
		LastReply: "550 " + hostile, MessageID: hostile + "@evil.test",
		Params: store.QueueParams{EnvID: hostile, ORcpt: "rfc822;" + hostile}}
	var out bytes.Buffer
	printQueue(&out, []mailbox.QueueItem{it})
	checkPrintable(t, "queue list", out.Bytes())
	out.Reset()
	printQueueDetail(&out, mailbox.QueueDetail{Item: it,
		Attempts: []mailbox.QueueAttempt{{At: time.Unix(0, 0), Remote: hostile, Reply: "451 " + hostile, TLS: hostile}},
		Header:   []byte("Subject: " + hostile + "\r\n\tfolded " + hostile + "\r\nFrom: x@evil.test\r\n\r\n")})
	checkPrintable(t, "queue show", out.Bytes())
}
