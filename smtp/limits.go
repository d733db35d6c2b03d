package smtp

import (
	"io"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox/netlimit"
)

// Refusal is the reply for a connection over a connection cap, sent
// instead of the greeting (RFC 5321 3.1 allows a 421 at connection
// opening), for a netlimit.Listener's Options.Refusal.
func (s *Server) Refusal() []byte {
	return []byte("421 4.7.0 " + s.opts.Hostname + " Too many connections, try later\r\n")
}

// The connection's reads are final once they time out (netlimit.Conn):
// what reaches the client then is one of these replies (RFC 5321 4.2:
// 421 closes the channel; RFC 3463 X.4.2: bad connection), and the
// connection closes.
func (s *Server) idleReply() string {
	return "421 4.4.2 " + s.opts.Hostname + " Idle timeout, closing connection\r\n"
}

func (s *Server) dataTimeoutReply() string {
	return "421 4.4.2 " + s.opts.Hostname + " Message transfer took too long, closing connection\r\n"
}

// closeOnTimeout makes a read timeout on c answer reply and close the
// connection. Left to itself, go-smtp would first answer the command
// line that a client sent without its CRLF (bufio hands it over as a
// whole line when the read fails), and end a BDAT chunk that timed out
// with a permanent 554. Sessions call it when they start (go-smtp makes
// them at EHLO), so that it also covers a connection after STARTTLS;
// before the first EHLO go-smtp's own handling applies, which ends the
// connection too.
func (s *Server) closeOnTimeout(c *gosmtp.Conn, reply string) {
	nc := netlimit.Of(c.Conn())
	if nc == nil {
		return
	}
	nc.OnTimeout(func() {
		// It runs in the connection's goroutine, inside a Read: go-smtp
		// is not writing, and has flushed its last reply.
		s.closeWith(c, reply)
	})
}

// closeWith writes reply, a last 421, on c's connection as it is now
// (TLS after STARTTLS) and closes it, for a session go-smtp would
// otherwise go on with. go-smtp must not be writing: its replies so far
// are flushed (textproto flushes each line).
func (s *Server) closeWith(c *gosmtp.Conn, reply string) {
	top := c.Conn()
	top.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	io.WriteString(top, reply)
	top.Close()
}

// limitData bounds the message transfer starting now to DataTimeout:
// every read deadline go-smtp sets meanwhile is cut to that limit, so
// that a client trickling a byte now and then cannot stretch DATA, or a
// string of BDAT chunks, past it. Call the returned function when the
// transfer ends, to lift the limit.
//
// Without a netlimit.Conn beneath the connection (an implicit-TLS
// listener without a netlimit.Listener beneath its TLS) this does
// nothing, and ReadTimeout alone bounds each read.
func (s *Server) limitData(c *gosmtp.Conn) (lift func()) {
	nc := netlimit.Of(c.Conn())
	if nc == nil {
		return func() {}
	}
	s.closeOnTimeout(c, s.dataTimeoutReply())
	// go-smtp sets a read deadline only when it waits for a command line,
	// and the one it set for DATA (or BDAT) would bound the message too:
	// the transfer gets DataTimeout instead, from now. go-smtp sets its own
	// again at the next command.
	nc.SetReadDeadline(time.Now().Add(s.opts.DataTimeout))
	nc.LimitReads(s.opts.DataTimeout)
	return func() {
		nc.LimitReads(0)
		s.closeOnTimeout(c, s.idleReply())
	}
}
