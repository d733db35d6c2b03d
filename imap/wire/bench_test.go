package wire

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// loopReader repeats one command forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func BenchmarkParseUIDFetchFlags(b *testing.B) {
	r := NewReader(bufio.NewReader(&loopReader{data: []byte("A0042 UID FETCH 1:* (FLAGS)\r\n")}), nil, Options{})
	r.SetAuthenticated(true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadCommand(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFetchBodyPeek(b *testing.B) {
	cmd := "A0043 UID FETCH 100:200 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID)])\r\n"
	r := NewReader(bufio.NewReader(&loopReader{data: []byte(cmd)}), nil, Options{})
	r.SetAuthenticated(true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadCommand(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteFetchFlags writes the response lines of UID FETCH 1:*
// (FLAGS), one message per iteration.
func BenchmarkWriteFetchFlags(b *testing.B) {
	w := NewWriter(bufio.NewWriterSize(io.Discard, 64<<10))
	flags := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, "$Forwarded"}
	b.ReportAllocs()
	var seq uint32
	for b.Loop() {
		seq++
		w.Untagged()
		w.Number(seq)
		w.Token(" FETCH (UID ")
		w.Number(seq + 1000)
		w.Token(" FLAGS ")
		w.Flags(flags)
		w.Token(")")
		w.CRLF()
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriteFetchBody writes a FETCH response with a 4 KiB body
// literal streamed from a reader.
func BenchmarkWriteFetchBody(b *testing.B) {
	w := NewWriter(bufio.NewWriterSize(io.Discard, 64<<10))
	body := []byte(strings.Repeat("Lorem ipsum dolor sit amet.\r\n", 140))
	br := bytes.NewReader(body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		br.Reset(body)
		w.Untagged()
		w.Number(7)
		w.Token(" FETCH (UID 1007 BODY[] ")
		if err := w.Literal(int64(len(body)), br); err != nil {
			b.Fatal(err)
		}
		w.Token(")")
		w.CRLF()
	}
}
