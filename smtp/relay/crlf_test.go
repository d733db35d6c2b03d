package relay

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store"
)

// rawSink is an SMTP receiver on a plain TCP listener that records the
// exact bytes of each DATA up to the first CRLF.CRLF, and every command
// line. Not go-smtp's server: its DATA reader mis-frames bare CR.
type rawSink struct {
	addr string
	done chan rawSession
}

type rawSession struct {
	commands []string
	data     []string
}

func startRawSink(t *testing.T) *rawSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &rawSink{addr: ln.Addr().String(), done: make(chan rawSession, 10)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *rawSink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	r := bufio.NewReader(c)
	var sess rawSession
	defer func() { s.done <- sess }()
	c.Write([]byte("220 sink.test ESMTP\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\r\n")
		sess.commands = append(sess.commands, line)
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			c.Write([]byte("250-sink.test\r\n250 8BITMIME\r\n"))
		case "MAIL", "RCPT", "RSET", "NOOP":
			c.Write([]byte("250 2.0.0 ok\r\n"))
		case "DATA":
			c.Write([]byte("354 go on\r\n"))
			// RFC 5321 4.5.2: the data ends at CRLF.CRLF, the first CRLF
			// being the end of the DATA line or of the last text line.
			data := []byte("\r\n")
			for !strings.HasSuffix(string(data), "\r\n.\r\n") {
				b, err := r.ReadByte()
				if err != nil {
					return
				}
				data = append(data, b)
			}
			sess.data = append(sess.data, string(data[2:]))
			c.Write([]byte("250 2.0.0 queued\r\n"))
		case "QUIT":
			c.Write([]byte("221 2.0.0 bye\r\n"))
			return
		default:
			c.Write([]byte("500 5.5.2 what\r\n"))
		}
	}
}

// A stored message with bare CR and LF (from before they were refused, or
// from IMAP APPEND) goes out as CRLF lines, dot-stuffed, so that no
// receiver, however it ends data, sees the end before the real one.
func TestRelaySendsCanonicalLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	raw := startRawSink(t)
	e.dialer.set("mx.remote.test:25", raw.addr)
	stored := "From: <alice@example.org>\r\nSubject: smuggle\r\n\r\n" +
		"hi\r.\rMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@remote.test>\r\nDATA\r\nsmuggled\r\n.\r\n" +
		"also\n.\nQUIT\n" +
		".dot\r\n..two\r\n" +
		"last\rline\r\r\n" +
		"no end"
	want := "From: <alice@example.org>\r\nSubject: smuggle\r\n\r\n" +
		"hi\r\n..\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@remote.test>\r\nDATA\r\nsmuggled\r\n..\r\n" +
		"also\r\n..\r\nQUIT\r\n" +
		"..dot\r\n...two\r\n" +
		"last\r\nline\r\n\r\n" +
		"no end\r\n" +
		".\r\n"
	enqueueData(t, e, "alice@example.org", "bob@remote.test", stored)
	e.start(e.options())

	var sess rawSession
	select {
	case sess = <-raw.done:
	case <-time.After(waitLimit):
		t.Fatalf("the sink got no session; log:\n%s", e.logs)
	}
	if len(sess.data) != 1 {
		t.Fatalf("%d DATA transfers, want 1; commands %q", len(sess.data), sess.commands)
	}
	got := sess.data[0]
	if got != want {
		t.Errorf("sent\n%q\nwant\n%q", got, want)
	}
	for i := range len(got) {
		if (got[i] == '\r' && (i+1 == len(got) || got[i+1] != '\n')) || (got[i] == '\n' && (i == 0 || got[i-1] != '\r')) {
			t.Errorf("bare CR or LF at %d: %q", i, got[max(0, i-10):min(len(got), i+10)])
			break
		}
	}
	// Every line that starts with a dot is stuffed, but the last.
	if n, stuffed := strings.Count("\n"+got, "\n."), strings.Count("\n"+got, "\n.."); n != stuffed+1 {
		t.Errorf("%d lines start with a dot, %d of them stuffed: an early end of data", n, stuffed)
	}
	mails := 0
	for _, c := range sess.commands {
		if strings.HasPrefix(strings.ToUpper(c), "MAIL") {
			mails++
		}
	}
	if mails != 1 {
		t.Errorf("%d MAIL commands: %q", mails, sess.commands)
	}
}

func TestCRLFLines(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":               "",
		"a\r\nb\r\n":     "a\r\nb\r\n",
		"a\rb":           "a\r\nb",
		"a\nb":           "a\r\nb",
		"\r":             "\r\n",
		"\n":             "\r\n",
		"\r\r\n\n\r":     "\r\n\r\n\r\n\r\n",
		"x\n\ry":         "x\r\n\r\ny",
		"ok\r\nbad\r.\r": "ok\r\nbad\r\n.\r\n",
	} {
		if got := string(crlfLines([]byte(in))); got != want {
			t.Errorf("crlfLines(%q) = %q, want %q", in, got, want)
		}
	}
	// Canonical data is passed on as it is, without a copy.
	in := []byte("a\r\nb\r\n")
	if out := crlfLines(in); &out[0] != &in[0] {
		t.Error("canonical data was copied")
	}
}

// enqueueData queues a message with exactly the given bytes.
func enqueueData(t *testing.T, e *env, sender, rcpt, data string) {
	t.Helper()
	a, _ := mailbox.ParseAddress(rcpt)
	err := e.db.Write(context.Background(), func(tx store.Tx) error {
		id, err := tx.InsertBlob(&store.Blob{Data: []byte(data), Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		_, err = tx.Enqueue(store.NewQueueItem{BlobID: id, Sender: sender, Recipient: a.String(), Domain: a.Domain, Created: t0, NextAttempt: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
