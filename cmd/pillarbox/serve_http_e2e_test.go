package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHTTPListeners: without ACME, [http] and [https] serve the web
// handler (unknown paths are 404), HTTPS with the server's certificate
// (here the self-signed one in data_dir), and a client over the
// per-address cap gets a 503 on HTTP and a plain close on HTTPS.
func TestHTTPListeners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, data, func(c *Config) {
		c.HTTP.Listen = "127.0.0.1:0"
		c.HTTPS.Listen = "127.0.0.1:0"
		c.Limits.MaxConnectionsPerIP = 1
	})
	srv := startServer(t, cfg, dir)
	for _, name := range []string{"http", "https"} {
		if srv.addrs[name] == "" {
			t.Fatalf("no %s listener in the log:\n%s", name, srv.log())
		}
	}
	certPEM, err := os.ReadFile(filepath.Join(data, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	// From 127.0.0.2, so that these connections do not count against
	// 127.0.0.1's cap below, however long the server takes to see them
	// closed.
	other := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     other.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "mx.example.test"}}}
	defer client.CloseIdleConnections()
	for _, url := range []string{"http://" + srv.addrs["http"] + "/no-such-page", "https://" + srv.addrs["https"] + "/no-such-page"} {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %s, want 404", url, resp.Status)
		}
	}

	// HTTPS speaks HTTP/2 to a client that offers it (RFC 9113 3.2);
	// from 127.0.0.3, as 127.0.0.2's connection may not be seen closed
	// yet.
	third := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 10 * time.Second}
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: third.DialContext, ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "mx.example.test"}}}
	resp, err := h2.Get("https://" + srv.addrs["https"] + "/no-such-page")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HTTP/2 GET: %s %s", resp.Proto, resp.Status)
	}
	h2.CloseIdleConnections()

	// One connection held open from 127.0.0.1 on each; the next is over
	// the cap.
	for _, name := range []string{"http", "https"} {
		held, err := net.Dial("tcp", srv.addrs[name])
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		// The cap counts a connection once the listener has accepted it:
		// a request answered on it says so.
		// On HTTP, two requests on the one connection (keep-alive, RFC
		// 9112 9.3) are both answered.
		if name == "http" {
			held.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(held)
			for i := range 2 {
				io.WriteString(held, "GET /no-such-page HTTP/1.1\r\nHost: mx.example.test\r\n\r\n")
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatalf("request %d on a kept-alive connection: %v", i+1, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound || resp.Close {
					t.Fatalf("request %d on a kept-alive connection: %s, close %v", i+1, resp.Status, resp.Close)
				}
			}
		} else {
			tc := tls.Client(held, &tls.Config{RootCAs: roots, ServerName: "mx.example.test"})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
		}
		over, err := net.Dial("tcp", srv.addrs[name])
		if err != nil {
			t.Fatal(err)
		}
		over.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(over)
		over.Close()
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s over the cap: %v", name, err)
		}
		want := ""
		if name == "http" {
			want = string(httpRefusal)
		}
		if string(got) != want {
			t.Fatalf("%s over the cap got %q, want %q (is the held connection still open?)", name, got, want)
		}
		if name == "http" {
			// The held connection still serves after an idle moment.
			io.WriteString(held, "GET /no-such-page HTTP/1.1\r\nHost: mx.example.test\r\n\r\n")
			if resp, err := http.ReadResponse(bufio.NewReader(held), nil); err != nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("held connection after the refusal: %v %v", resp, err)
			}
		}
	}
}
