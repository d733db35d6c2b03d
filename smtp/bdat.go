package smtp

import (
	"errors"
	"io"
	"runtime"
)

// bdatGuard works around go-smtp's BDAT goroutine. During BDAT, go-smtp
// runs the session's Data in a goroutine of its own; when Data returns,
// that goroutine sends the result on a channel it reads from a field of
// the connection, and then closes the chunk pipe's reader. After a
// transfer ends early (RSET, a new MAIL, a refused chunk) the
// connection's goroutine does not wait for that send, and the next BDAT
// transfer puts a new channel in the field: the old goroutine's read of
// the field races with the write, and its result can land in the new
// transfer's channel, answering the new message with the old one's
// error. Reset therefore waits, after Data has returned, until the
// goroutine has closed the pipe's reader, which it does after the send:
// the pipe's own lock orders that send before anything the connection
// does next.
type bdatGuard struct {
	pipe *io.PipeReader // the last BDAT transfer's, until Reset saw it closed
}

// started records the reader Data was given, if it is a BDAT pipe.
func (g *bdatGuard) started(r io.Reader) {
	if pr, ok := r.(*io.PipeReader); ok {
		g.pipe = pr
	}
}

// settle returns once the last BDAT goroutine has closed its pipe's
// reader. Data has returned by then (the caller holds the session's
// running lock), so the goroutine has two non-blocking steps left: the
// send on a buffered channel and the close. The wait yields rather than
// sleeps, since it is that short.
func (g *bdatGuard) settle() {
	if g.pipe == nil {
		return
	}
	for {
		// A read of nothing on a pipe whose writer is closed returns at
		// once: the writer's error until the reader is closed, then
		// ErrClosedPipe.
		if _, err := g.pipe.Read(nil); errors.Is(err, io.ErrClosedPipe) {
			break
		}
		runtime.Gosched()
	}
	g.pipe = nil
}
