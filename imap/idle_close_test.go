package imap

import (
	"testing"
)

// TestIdleDroppedConnection: clients that drop their connections in
// IDLE, while the server is writing them news, end their sessions
// cleanly. The library calls Close as soon as its read fails, without
// waiting for Idle to return, and Close used to clear the selected view
// under the poll that was still reading it (a data race under -race, a
// nil pointer panic in (*view).poll without).
func TestIdleDroppedConnection(t *testing.T) {
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	const n = 50
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = e.raw("alice")
		conns[i].ok("SELECT INBOX")
		conns[i].idle()
	}
	w := e.raw("alice")
	w.ok("SELECT INBOX")
	for round := range 4 {
		if round%2 == 0 {
			w.ok(`STORE 1 +FLAGS.SILENT (\Flagged)`)
		} else {
			w.ok(`STORE 1 -FLAGS.SILENT (\Flagged)`)
		}
		// Each client drops while its news may still be on the way.
		for _, c := range conns[round*n/4 : (round+1)*n/4] {
			c.c.Close()
		}
	}
	// The server still serves, and the sessions end with it (the test's
	// cleanup waits for them).
	w.ok("NOOP")
	e.raw("bob").ok("SELECT INBOX")
}
