package netlimit

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// readResult runs one Read in the background, so that a test waits for
// it with a timeout instead of hanging.
func readResult(c net.Conn) <-chan error {
	res := make(chan error, 1)
	go func() {
		var b [16]byte
		_, err := c.Read(b[:])
		res <- err
	}()
	return res
}

func wantTimeout(t *testing.T, res <-chan error) {
	t.Helper()
	select {
	case err := <-res:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a timeout", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read error %T is not a net.Error timeout: the servers test for one", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not time out")
	}
}

// TestTimeoutIsFinal: after a read has timed out, a new deadline and new
// data do not revive the connection. A plain net.Conn would return the
// data: that is how go-smtp and go-imap let a client hold a connection
// by sending a few bytes per timeout.
func TestTimeoutIsFinal(t *testing.T) {
	t.Parallel()
	client, server := tcpPair(t)
	c := Wrap(server, nil)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	wantTimeout(t, readResult(c))

	client.Write([]byte("NOOP\r\n"))
	c.SetReadDeadline(time.Now().Add(time.Hour))
	wantTimeout(t, readResult(c))
	c.SetDeadline(time.Time{})
	wantTimeout(t, readResult(c))
}

// TestLimitReadsClamps: the hard limit wins over a later deadline the
// library sets, and lifting it restores that deadline.
func TestLimitReadsClamps(t *testing.T) {
	t.Parallel()
	_, server := tcpPair(t)
	c := Wrap(server, time.Now)
	c.LimitReads(50 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(time.Hour))
	wantTimeout(t, readResult(c))

	client2, server2 := tcpPair(t)
	c2 := Wrap(server2, time.Now)
	c2.LimitReads(50 * time.Millisecond)
	c2.SetReadDeadline(time.Now().Add(time.Hour))
	c2.LimitReads(0)
	client2.Write([]byte("x"))
	select {
	case err := <-readResult(c2):
		if err != nil {
			t.Fatalf("Read after lifting the limit = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read after lifting the limit hangs")
	}
}

// TestLimitReadsUsesClock: the limit counts from the injected clock.
func TestLimitReadsUsesClock(t *testing.T) {
	t.Parallel()
	client, server := tcpPair(t)
	hourAgo := func() time.Time { return time.Now().Add(-time.Hour) }
	c := Wrap(server, hourAgo)
	client.Write([]byte("x")) // data waiting does not matter: the limit has passed
	c.LimitReads(time.Minute)
	wantTimeout(t, readResult(c))
}

func TestWrapAndOf(t *testing.T) {
	t.Parallel()
	_, server := tcpPair(t)
	c := Wrap(server, nil)
	if Wrap(c, nil) != c {
		t.Error("Wrap wraps a *Conn twice")
	}
	if Of(c) != c {
		t.Error("Of(*Conn) is not the conn")
	}
	if Of(tls.Server(c, &tls.Config{})) != c {
		t.Error("Of(*tls.Conn) is not the conn beneath")
	}
	if Of(server) != nil {
		t.Error("Of(plain conn) is not nil")
	}
}

func TestGuardListener(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	go func() {
		if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			defer c.Close()
			var b [1]byte
			c.Read(b[:])
		}
	}()
	c, err := GuardListener(inner).Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if Of(c) == nil {
		t.Fatalf("GuardListener accepted %T, want *Conn", c)
	}
	// A TLS listener's connections keep their type.
	tl := GuardListener(tls.NewListener(inner, &tls.Config{}))
	go func() {
		if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			defer c.Close()
			var b [1]byte
			c.Read(b[:])
		}
	}()
	tc, err := tl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, ok := tc.(*tls.Conn); !ok {
		t.Fatalf("GuardListener over TLS accepted %T, want *tls.Conn", tc)
	}
}
