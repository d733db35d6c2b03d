package smtp

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/textproto"
	"sync"
	"testing"
	"testing/synctest"

	"pillarbox/mailbox"
)

// pipeListener hands out the server ends of net.Pipe connections, whose
// writes block until the other end reads, with loopback TCP addresses.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

type loopbackPipe struct{ net.Conn }

func (loopbackPipe) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 587} }
func (loopbackPipe) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

func (l *pipeListener) dial() net.Conn {
	cl, srv := net.Pipe()
	l.conns <- loopbackPipe{srv}
	return cl
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 587} }

// blockingSubmitter accepts alice's login and her mail, and holds Submit
// until release is closed.
type blockingSubmitter struct{ entered, release chan struct{} }

func (blockingSubmitter) Authenticate(_ context.Context, user, pw string) (mailbox.Account, error) {
	if user != "alice@example.org" || pw != "pw" {
		return mailbox.Account{}, mailbox.ErrAuthFailed
	}
	return mailbox.Account{ID: 1, Address: user}, nil
}
func (blockingSubmitter) CanSendAs(_ context.Context, _ mailbox.Account, a mailbox.Address) (bool, error) {
	return a.String() == "alice@example.org", nil
}
func (blockingSubmitter) IsLocalDomain(d string) bool { return d == "example.org" }
func (blockingSubmitter) Resolve(_ context.Context, a mailbox.Address) (mailbox.Recipient, error) {
	return mailbox.Recipient{Address: a, Accounts: []int64{2}}, nil
}
func (b blockingSubmitter) Submit(context.Context, *mailbox.Submission) (mailbox.Submitted, error) {
	close(b.entered)
	<-b.release
	return mailbox.Submitted{ID: 1}, nil
}
func (blockingSubmitter) CheckQuota(context.Context, []int64, int64) error  { return nil }
func (blockingSubmitter) TrackSession(mailbox.Account, func(string)) func() { return func() {} }

// TestSubmissionShutdownAnswersInFlight: Shutdown waits until a message
// committed on submission has had its 250 written, as it does on the MX,
// so that the client does not send it again. The submission session
// counted the message out of flight when the commit returned, before
// go-smtp wrote the reply: Shutdown could then close the connection
// between the commit and the 250.
func TestSubmissionShutdownAnswersInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sub := blockingSubmitter{entered: make(chan struct{}), release: make(chan struct{})}
		srv := NewSubmission(sub, SubmissionOptions{
			Options:  Options{Hostname: "mail.example.org", Logger: discardLogger()},
			Throttle: mailbox.NewThrottle(mailbox.ThrottleOptions{}),
		})
		ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
		go srv.Serve(ln)
		defer srv.Close()

		nc := ln.dial()
		defer nc.Close()
		tc := textproto.NewConn(nc)
		step := func(line string, want int) {
			t.Helper()
			if line != "" {
				tc.PrintfLine("%s", line)
			}
			if code, msg, err := tc.ReadResponse(want); err != nil {
				t.Fatalf("%q: %d %s (%v)", line, code, msg, err)
			}
		}
		step("", 220)
		step("EHLO client.example.net", 250)
		step("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00pw")), 235)
		step("MAIL FROM:<alice@example.org>", 250)
		step("RCPT TO:<bob@example.org>", 250)
		step("DATA", 354)
		// Send the message but read no reply yet: the server's write of
		// its reply blocks on the pipe until the client reads.
		go io.WriteString(nc, "From: alice@example.org\r\nSubject: x\r\n\r\nx\r\n.\r\n")
		<-sub.entered
		down := make(chan error, 1)
		go func() { down <- srv.Shutdown(context.Background()) }()
		close(sub.release)
		synctest.Wait()
		select {
		case err := <-down:
			t.Fatalf("Shutdown returned (%v) before the reply to DATA was written", err)
		default:
		}
		step("", 250)
		if err := <-down; err != nil {
			t.Fatal(err)
		}
	})
}
