package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"pillarbox/imap/wire"
)

// Timeouts of a connection. RFC 9051 section 5.4: an authenticated
// client is logged out after at least 30 minutes of inactivity; before
// login a short wait keeps port scanners and stuck clients from holding
// connections.
const (
	handshakeTimeout   = 30 * time.Second // implicit TLS and STARTTLS handshakes
	preAuthTimeout     = 30 * time.Second // waiting for a command before login
	preAuthLifetime    = 5 * time.Minute  // from connecting to logging in, whatever is sent
	authTimeout        = 35 * time.Minute // waiting for a command, or in IDLE, after login (RFC 2177 clients renew at 29)
	commandReadTimeout = 30 * time.Second // the rest of a command once its first byte came
	writeTimeout       = 60 * time.Second // one flush of responses to the client
	byeWriteTimeout    = 5 * time.Second  // the last words before a close
)

// Refusal is the greeting for a connection over a connection cap, for a
// netlimit.Listener's Options.Refusal: a BYE greeting refuses the
// connection (RFC 9051 7.1.5), and UNAVAILABLE (RFC 5530) says it is
// temporary.
func (s *Server) Refusal() []byte {
	return []byte("* BYE [UNAVAILABLE] Too many connections\r\n")
}

// maxPreAuthErrors is how many commands a client that has not logged in
// may get wrong before it is told BYE: enough for any client probing
// what the server knows, too few for a scan to go on for long.
const maxPreAuthErrors = 20

// serveConn runs one connection from its greeting to its close.
func (s *Server) serveConn(nc net.Conn, loopback bool) {
	sess := newSession(s, nc, loopback)
	defer sess.Close()
	defer func() {
		// A bug in one session ends that connection only.
		if v := recover(); v != nil {
			s.log.Error("imap: session panicked", "remote", sess.ip, "user", sess.account.Address,
				"panic", v, "stack", string(debug.Stack()))
		}
	}()
	if !s.register(sess) {
		sess.writeBye("Server shutting down")
		return
	}
	if tc, ok := nc.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			s.log.Info("imap: TLS handshake failed", "remote", sess.ip, "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		sess.tls = true
	}
	if s.opts.Debug != nil {
		sess.lock() // a BYE from another goroutine writes through s.nc
		sess.setConn(debugConn{Conn: sess.nc, w: s.opts.Debug})
		sess.unlock()
	}
	sess.lock()
	sess.w.StatusResponse("", wire.OK, sess.capabilityCode(), "Pillarbox IMAP ready")
	err := sess.flush()
	sess.unlock()
	if err != nil {
		return
	}
	sess.serve()
}

// register adds a session to those Shutdown ends; false when shutting
// down already.
func (s *Server) register(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

// serve reads and runs commands until the client logs out, the
// connection fails or the session is ended.
func (s *session) serve() {
	errs := 0
	// A client that never logs in is cut off after preAuthLifetime,
	// however busy it keeps the connection (NOOP, CAPABILITY, commands in
	// the wrong state): connections before login cost, and prove, nothing.
	loginBy := time.Now().Add(preAuthLifetime)
	authed := false
	for {
		if s.account.ID == 0 {
			now := time.Now()
			if authed {
				// UNAUTHENTICATE (RFC 8437): as on a new connection, the
				// client has preAuthLifetime to log in again.
				authed, errs = false, 0
				loginBy = now.Add(preAuthLifetime)
			}
			if !now.Before(loginBy) {
				s.writeBye("Autologout; log in sooner")
				return
			}
			deadline := now.Add(preAuthTimeout)
			if loginBy.Before(deadline) {
				deadline = loginBy
			}
			s.nc.SetReadDeadline(deadline)
		} else {
			authed = true
			s.nc.SetReadDeadline(time.Now().Add(authTimeout))
		}
		s.awaiting = true
		cmd, err := s.r.ReadCommand()
		s.awaiting = false
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				s.readFailed(err)
				return
			}
			s.lock()
			s.w.ErrorResponse(we)
			if we.Fatal {
				s.w.StatusResponse("", wire.BYE, "", "Cannot read the command, closing")
			}
			ferr := s.flush()
			s.unlock()
			if we.Fatal || ferr != nil {
				return
			}
			if s.account.ID == 0 {
				if errs++; errs > maxPreAuthErrors {
					s.writeBye("Too many invalid commands")
					return
				}
			}
			continue
		}
		if !s.execute(cmd) {
			return
		}
	}
}

// readFailed ends a connection whose read failed: a timeout gets a BYE
// (RFC 9051 7.1.5's autologout), a closed connection nothing.
func (s *session) readFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.writeBye("Autologout; timed out waiting for the client")
		return
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) && !s.isEnded() {
		s.srv.log.Info("imap: read failed", "remote", s.ip, "err", err)
	}
}

func isReset(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "connection reset by peer") || strings.Contains(msg, "broken pipe")
}

// lock takes the connection's writer. Responses to a command are written
// under it, and so are the updates IDLE sends and the BYE another
// goroutine sends (an account deleted, a shutdown).
func (s *session) lock()   { s.wlock <- struct{}{} }
func (s *session) unlock() { <-s.wlock }

// flush sends what was written, within writeTimeout. It must run under
// lock.
func (s *session) flush() error {
	s.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := s.w.Flush()
	if err == nil {
		err = s.w.Err()
	}
	return err
}

// flushPending sends the responses that execute left for the next
// flush, on the session's goroutine.
func (s *session) flushPending() error {
	if !s.inCommand {
		s.lock()
		defer s.unlock()
	}
	s.unflushed = false
	return s.flush()
}

// continueLiteral answers a synchronising literal with "+" (the wire
// Reader's callback). Within a command the command's goroutine holds the
// writer already.
func (s *session) continueLiteral() error {
	if !s.inCommand {
		s.lock()
		defer s.unlock()
	}
	s.w.Continue("Ready for literal data")
	return s.flush()
}

// writeBye says BYE and closes the connection. Any goroutine may call it;
// it waits for a command that is writing to finish its response.
func (s *session) writeBye(text string) {
	s.writeByeWithin(context.Background(), text)
}

// writeByeWithin is writeBye that waits for a command holding the writer
// (one waiting for its client's literal, or writing to a client that does
// not read) until ctx ends or byeWait passes, and then closes the
// connection without a BYE: the command's reads and writes then fail.
func (s *session) writeByeWithin(ctx context.Context, text string) {
	s.endOnce.Do(func() {
		wait := time.NewTimer(byeWait)
		defer wait.Stop()
		select {
		case s.wlock <- struct{}{}:
		case <-wait.C:
			s.markEnded()
			s.raw.Close() // s.nc may be changing under the writer's lock
			return
		case <-ctx.Done():
			s.markEnded()
			s.raw.Close()
			return
		}
		defer s.unlock()
		if s.isEnded() {
			// The session's own goroutine said BYE already (pollView):
			// one is enough, and that goroutine closes the connection.
			return
		}
		// The reason (a folder or an account deleted) may come from a
		// commit not yet durable.
		s.owed.Note(s.srv.svc.Committed())
		s.nc.SetWriteDeadline(time.Now().Add(byeWriteTimeout))
		s.w.StatusResponse("", wire.BYE, "", text)
		s.w.Flush()
		s.markEnded()
		s.nc.Close()
	})
}

// byeWait is how long a BYE from another goroutine waits for a command
// that holds the writer.
const byeWait = 5 * time.Second

// startTLS switches the connection to TLS after STARTTLS's OK has been
// sent (RFC 9051 6.2.1). Bytes the client sent after STARTTLS and before
// the handshake would be read as if they came over TLS (CVE-2011-0411):
// the connection is closed instead.
func (s *session) startTLS() error {
	if s.r.Buffered() > 0 {
		return errors.New("imap: data after STARTTLS before the handshake")
	}
	tc := tls.Server(s.nc, s.srv.opts.TLS)
	tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	s.lock() // a BYE from another goroutine writes through s.nc
	s.setConn(tc)
	s.unlock()
	s.tls = true
	return nil
}

// setConn makes the session read and write through nc (after STARTTLS or
// COMPRESS).
func (s *session) setConn(nc net.Conn) {
	s.nc = nc
	s.br = bufio.NewReaderSize(firstByte{s}, readBufferSize)
	s.bw.Reset(s.output(nc))
	s.r.Reset(s.br)
}

// Buffer sizes: small, so that a thousand idle connections stay small;
// literals stream through them.
const (
	readBufferSize  = 4 << 10
	writeBufferSize = 16 << 10
)

// debugConn copies what a connection reads and writes to w (Options.Debug).
type debugConn struct {
	net.Conn
	w io.Writer
}

func (c debugConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.Write(p[:n])
	return n, err
}

func (c debugConn) Write(p []byte) (int, error) {
	c.w.Write(p)
	return c.Conn.Write(p)
}

// slowestUpload is the slowest upload a literal's deadline allows for:
// 4 KiB/s (32 kbit/s), a poor mobile link; APPENDLIMIT bounds the wait.
const slowestUpload = 4 << 10

// literalDeadline gives the literal of size octets that is about to be
// read the time a slow link needs for it, on top of the command's own
// deadline (firstByte's, which a message upload would outlast).
func (s *session) literalDeadline(size int64) {
	s.nc.SetReadDeadline(time.Now().Add(commandReadTimeout + time.Duration(size/slowestUpload)*time.Second))
}

// firstByte reads from the session's connection. When the first bytes of
// a command arrive, the wait for a command (minutes) gives way to a short
// deadline for the rest of it: a client that sends a byte now and then
// cannot hold the connection beyond it. APPEND's and CATENATE's literals
// get a longer one, by their size (literalDeadline).
type firstByte struct{ s *session }

func (f firstByte) Read(p []byte) (int, error) {
	if f.s.unflushed {
		// The client may wait for these before it sends more.
		if err := f.s.flushPending(); err != nil {
			return 0, err
		}
	}
	n, err := f.s.nc.Read(p)
	if n > 0 && f.s.awaiting {
		f.s.awaiting = false
		f.s.nc.SetReadDeadline(time.Now().Add(commandReadTimeout))
	}
	return n, err
}
