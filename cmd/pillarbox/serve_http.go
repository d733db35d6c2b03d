package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/acme"

	"pillarbox/mailbox/netlimit"
)

// The HTTP listeners' abuse limits. Their requests are small (a
// challenge token, an autoconfig document, an MTA-STS policy), so a
// client that takes longer than this is slow on purpose or broken.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpWriteTimeout      = 60 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	httpMaxHeaderBytes    = 16 << 10
)

// httpRefusal is what a plain HTTP connection over a cap is told (RFC
// 9110 15.6.4) before it is closed, whatever it asked.
var httpRefusal = []byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 60\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

// httpServer is an *http.Server with serve's server lifecycle. With
// tlsConf set it serves HTTPS, doing the handshake itself, so that its
// config (ALPN for TLS-ALPN-01 challenges and HTTP/2) need not be the
// mail listeners'.
type httpServer struct {
	srv     *http.Server
	tlsConf *tls.Config
}

func newHTTPServer(h http.Handler, tlsConf *tls.Config, log *slog.Logger) *httpServer {
	return &httpServer{tlsConf: tlsConf, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		// HTTP/2 clears the connection's write deadline and applies
		// WriteTimeout per stream: without a byte timeout, a client that
		// stops reading holds the connection, and its cap's slot, for
		// ever.
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 32,
			WriteByteTimeout:     httpWriteTimeout,
			SendPingTimeout:      httpIdleTimeout / 2,
			PingTimeout:          15 * time.Second,
		},
		// Failed handshakes and malformed requests are the server's
		// only errors; they are worth a line, not a warning.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelInfo),
	}}
}

func (s *httpServer) Serve(ln net.Listener) error {
	ln = keepAliveListener{ln}
	if s.tlsConf != nil {
		ln = tls.NewListener(ln, s.tlsConf)
	}
	if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *httpServer) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Refusal is a 503 on plain HTTP; nothing on HTTPS, whose client cannot
// read a reply before its handshake.
func (s *httpServer) Refusal() []byte {
	if s.tlsConf != nil {
		return nil
	}
	return httpRefusal
}

// httpListeners returns the [http] and [https] listeners that are on.
// HTTP serves ACME's HTTP-01 challenges (RFC 8555 8.3) in front of
// webHandler when ac is not nil; HTTPS serves webHandler with the
// server's certificates, and with ACME also answers TLS-ALPN-01
// challenges (RFC 8737), which need acme-tls/1 among its protocols.
func httpListeners(w *wiring, ac *acmeCerts) []listenerSpec {
	var specs []listenerSpec
	web := webHandler(w)
	if w.cfg.HTTP.Listen != "" {
		h := web
		if ac != nil {
			h = ac.HTTPHandler(web)
		}
		specs = append(specs, listenerSpec{name: "http", addr: w.cfg.HTTP.Listen,
			srv: newHTTPServer(h, nil, w.log.With("service", "http"))})
	}
	if w.cfg.HTTPS.Listen != "" {
		conf := w.tls.Clone()
		conf.NextProtos = []string{"h2", "http/1.1"}
		if ac != nil {
			conf.NextProtos = append(conf.NextProtos, acme.ALPNProto)
		}
		specs = append(specs, listenerSpec{name: "https", addr: w.cfg.HTTPS.Listen,
			srv: newHTTPServer(web, conf, w.log.With("service", "https"))})
	}
	return specs
}

// keepAliveListener gives net/http connections whose read timeouts are
// not final. netlimit.Conn ends reading at the first timeout, which
// guards the mail protocols against dribbling clients; but net/http
// interrupts its own background read between two requests of a
// keep-alive connection with a deadline in the past, and would then
// find the connection dead. Its own timeouts (ReadHeaderTimeout and the
// rest) guard it instead. The cap's slot is still freed at Close.
type keepAliveListener struct{ net.Listener }

func (l keepAliveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if lc, ok := c.(*netlimit.Conn); ok {
		return resumableConn{lc}, err
	}
	return c, err
}

// resumableConn reads past netlimit.Conn's final timeout, straight from
// the connection beneath; deadlines and Close are still netlimit's.
type resumableConn struct{ *netlimit.Conn }

func (c resumableConn) Read(p []byte) (int, error) { return c.Conn.Conn.Read(p) }
