package main

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// TestResolverUsesConfiguredServer: with [dns] resolver set, a lookup is
// sent to that server and nowhere else.
func TestResolverUsesConfiguredServer(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := newResolver(pc.LocalAddr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go r.LookupMX(ctx, "example.test")
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no query reached the configured resolver: %v", err)
	}
	// The question name is in the query as length-prefixed labels.
	if want := []byte("\x07example\x04test\x00"); !bytes.Contains(buf[:n], want) {
		t.Fatalf("query %q does not ask for example.test", buf[:n])
	}
	if newResolver("") != net.DefaultResolver {
		t.Fatal("no resolver configured: want the system's")
	}
}
