package imap

import (
	"context"
	"fmt"
	"io"
)

// Commands change mail with store.Early contexts (session.ctx): a write
// returns once committed, and the session goes on with the next command
// the client pipelined while the store makes the commit durable. What the
// session says of a change (the tagged OK, an EXPUNGE, a FETCH of new
// flags), and what another session reads or is told of it, may then go
// ahead of its fsync. So the session notes in its Owed every commit its
// responses depend on: its own writes, what its reads saw (noted by
// mailbox.Service), the folder changes it announces; and its writer sends
// nothing before those commits are durable. No client ever sees a change
// that a crash could take back, and an OK still means durable; a session
// that depends on no commit in flight waits for nothing.

// durableWriter passes writes to w once the session's Owed commits are
// durable.
type durableWriter struct {
	w io.Writer
	s *session
}

func (d durableWriter) Write(p []byte) (int, error) {
	err := d.s.srv.svc.AwaitCommit(context.Background(), d.s.owed.Load())
	if err != nil {
		return 0, fmt.Errorf("imap: holding back responses: %w", err)
	}
	return d.w.Write(p)
}

// output is what the session's buffered writer writes into: nc, behind
// the durability barrier.
func (s *session) output(nc io.Writer) io.Writer {
	return durableWriter{w: nc, s: s}
}
