package smtp

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
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

// Data must have started by the time the connection's goroutine can
// reset the session, for Reset to wait for it: go-smtp copies each chunk
// into the pipe Data reads, and that copy waits until Data reads, which
// it does holding the session's running lock. An empty chunk is copied
// at once, so that the connection could go on to RSET and the next
// transfer before the goroutine has even called Data; that goroutine
// would then read the next transfer's envelope and send its result into
// the next transfer's channel, where the next goroutine blocks for good
// on a full channel. An empty chunk that is not the LAST adds nothing to
// a message (RFC 3030 2): the wire refuses it (refuseEmptyChunk) before
// go-smtp starts a goroutine for it. "BDAT 0 LAST" ends a transfer, and
// the connection waits for its result.

// emptyChunkLine is what an empty chunk that is not the LAST is handed to
// go-smtp as: a BDAT it refuses with bdatUnknownArg, reading no chunk.
var emptyChunkLine = []byte("BDAT 0 EMPTY\r\n")

var (
	bdatUnknownArg    = []byte("501 5.5.4 Unknown BDAT argument\r\n")
	emptyChunkRefusal = []byte("501 5.5.4 An empty BDAT chunk must be the LAST\r\n")
)

// refuseEmptyChunk runs at the start of a command line. When the line is
// "BDAT 0" (any number of zeros, no LAST), it takes the line and queues
// emptyChunkLine in its place, and reports true. Like
// completePostmaster, it waits for more of the line only while the line
// can still be that command.
func (r *lineReader) refuseEmptyChunk() bool {
	for {
		b, _ := r.src.Peek(r.src.Buffered())
		end := bytes.IndexByte(b, '\n')
		if end < 0 {
			if !couldBeBDAT(b) || len(b) > commandHead+64 {
				return false
			}
			if _, err := r.src.Peek(len(b) + 1); err != nil {
				return false
			}
			continue
		}
		line := b[:end+1]
		if n, ok := bdatSize(line); !ok || n != 0 || isLastChunk(line) {
			return false
		}
		r.src.Discard(len(line))
		r.pending = append(r.pending[:0], emptyChunkLine...)
		r.emptyChunk = true
		return true
	}
}

// couldBeBDAT reports whether b, the start of a line, could still become
// a BDAT command.
func couldBeBDAT(b []byte) bool {
	n := min(len(b), 4)
	return bytes.EqualFold(b[:n], []byte("BDAT")[:n])
}

// isLastChunk reports whether a BDAT command line bdatSize accepted ends
// with LAST.
func isLastChunk(line []byte) bool {
	return len(bytes.Fields(line)) == 3
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
func (g *bdatGuard) settle(log *slog.Logger) {
	if g.pipe == nil {
		return
	}
	for i := 0; ; i++ {
		// A read of nothing on a pipe whose writer is closed returns at
		// once: the writer's error until the reader is closed, then
		// ErrClosedPipe.
		if _, err := g.pipe.Read(nil); errors.Is(err, io.ErrClosedPipe) {
			break
		}
		if i == maxSettleYields {
			// Should not happen (see above); a stuck goroutine must not
			// hold the connection's lock with a spinning one.
			log.Error("smtp: a BDAT transfer's goroutine did not finish; going on without it")
			break
		}
		runtime.Gosched()
	}
	g.pipe = nil
}

// maxSettleYields bounds settle's wait: far more yields than the two
// steps it waits for take, and well under a second of one core.
const maxSettleYields = 100000
