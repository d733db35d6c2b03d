package smtp

import (
	"crypto/tls"
	"io"
	"net"
	"net/textproto"
	"testing"
	"testing/synctest"
	"time"

	"pillarbox/mailbox"
	"pillarbox/mailbox/netlimit"
)

// tlsPipeListener is pipeListener for implicit TLS, as serve.go wires
// it: a netlimit.Conn beneath each TLS connection.
type tlsPipeListener struct {
	*pipeListener
	conf *tls.Config
}

func (l tlsPipeListener) Accept() (net.Conn, error) {
	c, err := l.pipeListener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(netlimit.Wrap(c, nil), l.conf), nil
}

// TestImplicitTLSHandshakeBounded: a client of submission on implicit
// TLS (port 465) that connects and sends nothing is closed after
// handshakeTimeout, as on IMAPS. go-smtp ran the handshake under the
// command timeout (10 minutes), so such a client held a connection slot
// that long. A client that finished its handshake is not held to it: it
// may then wait as long as the command timeout allows.
func TestImplicitTLSHandshakeBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := NewSubmission(blockingSubmitter{}, SubmissionOptions{
			Options:  Options{Hostname: "mail.example.org", Logger: discardLogger()},
			Throttle: mailbox.NewThrottle(mailbox.ThrottleOptions{}),
		})
		pl := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
		go srv.Serve(tlsPipeListener{pl, testTLSConfig(t, "mail.example.org")})
		defer srv.Close()

		// Silent: no ClientHello.
		silent := pl.dial()
		defer silent.Close()
		start := time.Now()
		if _, err := silent.Read(make([]byte, 1)); err == nil {
			t.Fatal("the server sent something to a client that sent no ClientHello")
		}
		if waited := time.Since(start); waited > handshakeTimeout {
			t.Fatalf("a client that sent nothing was held %v, want at most %v", waited, handshakeTimeout)
		}

		// Handshake done, then a wait longer than handshakeTimeout
		// before EHLO: still served.
		nc := pl.dial()
		defer nc.Close()
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		tp := textproto.NewConn(tc)
		if _, _, err := tp.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * handshakeTimeout)
		if err := tp.PrintfLine("EHLO client.example.net"); err != nil {
			t.Fatal(err)
		}
		if code, msg, err := tp.ReadResponse(250); err != nil {
			t.Fatalf("EHLO after the handshake and a wait: %d %s (%v)", code, msg, err)
		}
		tp.PrintfLine("QUIT")
		io.Copy(io.Discard, tc)
	})
}
