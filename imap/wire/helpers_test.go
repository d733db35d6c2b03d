package wire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// errPastEnd is what strictReader returns once its data is used up: a
// test that sees it knows the Reader tried to read more than the client
// had sent (for example the bytes of a literal it should have refused).
var errPastEnd = errors.New("test: read past the data the client sent")

type strictReader struct{ r io.Reader }

func (s *strictReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if errors.Is(err, io.EOF) {
		err = errPastEnd
	}
	return n, err
}

// testReader is a Reader over in that counts continuation requests.
type testReader struct {
	*Reader
	conts int
}

func newTestReader(in string, opts Options) *testReader {
	tr := &testReader{}
	br := bufio.NewReaderSize(&strictReader{strings.NewReader(in)}, 16)
	tr.Reader = NewReader(br, func() error { tr.conts++; return nil }, opts)
	return tr
}

// parseOne parses a single command from in (authenticated, 8-bit off).
func parseOne(t *testing.T, in string) (Command, error) {
	t.Helper()
	tr := newTestReader(in, Options{})
	tr.SetAuthenticated(true)
	return tr.ReadCommand()
}

// ss and us build sets from start, stop pairs (0 is "*").
func ss(pairs ...uint32) imap.SeqSet {
	var s imap.SeqSet
	for i := 0; i+1 < len(pairs); i += 2 {
		s = append(s, imap.SeqRange{Start: pairs[i], Stop: pairs[i+1]})
	}
	return s
}

func us(pairs ...uint32) imap.UIDSet {
	var s imap.UIDSet
	for i := 0; i+1 < len(pairs); i += 2 {
		s = append(s, imap.UIDRange{Start: imap.UID(pairs[i]), Stop: imap.UID(pairs[i+1])})
	}
	return s
}

func hf(k, v string) imap.SearchCriteriaHeaderField {
	return imap.SearchCriteriaHeaderField{Key: k, Value: v}
}
