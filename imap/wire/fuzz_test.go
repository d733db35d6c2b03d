package wire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// fuzzOpts are small bounds, so that the fuzzer reaches them.
var fuzzOpts = Options{
	MaxLineLength: 512, MaxLiteralPreAuth: 64, MaxLiteral: 256, MaxAppendSize: 1024,
	MaxCommandSize: 2048, MaxCommandSizePreAuth: 1024, MaxDepth: 8, MaxItems: 32, MaxSkip: 128,
}

// FuzzParse feeds arbitrary bytes to the Reader as a client would, reading
// commands (and APPEND messages) until the input ends or an error is
// fatal. It must never panic, and the memory one command holds must stay
// within the bounds.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a LOGIN {3}\r\njoe {2+}\r\npw\r\n",
		"a UID FETCH 1:* (FLAGS BODY.PEEK[1.HEADER.FIELDS (From)]<0.10>) (CHANGEDSINCE 1 VANISHED)\r\n",
		"a SEARCH RETURN (MIN) CHARSET UTF-8 OR (FROM x) NOT 1:3 UID $ MODSEQ \"/flags/\\\\seen\" all 5\r\n",
		"a APPEND INBOX (\\Seen) \" 1-Jan-2020 10:00:00 +0100\" {5}\r\nhello ~{3+}\r\na\x00b\r\n",
		"a APPEND D CATENATE (URL \"/x\" TEXT {2+}\r\nhi)\r\n",
		"a SELECT INBOX (QRESYNC (1 2 1:5 (1:2 3:4)))\r\n",
		"a LIST (SUBSCRIBED) \"\" (* %) RETURN (STATUS (MESSAGES))\r\n",
		"a STORE 1 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Seen)\r\n",
		"a SORT RETURN (COUNT) (REVERSE DATE) UTF-8 ALL\r\n",
		"a NOTIFY SET (selected (MessageNew (UID)))\r\n",
		"a BAD {5+}\r\nxxxxx\r\nb NOOP\r\n",
		"a CREATE &ZeVnLIqe-\r\n",
		"a ID (\"name\" NIL)\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, authed bool) {
		r := NewReader(bufio.NewReaderSize(strings.NewReader(string(data)), 16), func() error { return nil }, fuzzOpts)
		r.SetAuthenticated(authed)
		for i := 0; i < 100; i++ {
			cmd, err := r.ReadCommand()
			if r.used > r.maxCommandSize() || len(r.line) > fuzzOpts.MaxLineLength+2 {
				t.Fatalf("bounds exceeded: used %d, line %d", r.used, len(r.line))
			}
			var e *Error
			if errors.As(err, &e) {
				if e.Reason == "" {
					t.Fatalf("error without a reason: %+v", e)
				}
				if e.Fatal {
					return
				}
				continue
			}
			if err != nil {
				return // end of input
			}
			if cmd.CommandTag() == "" || cmd.CommandName() == "" {
				t.Fatalf("command without tag or name: %#v", cmd)
			}
			if _, ok := cmd.(*Append); ok {
				for {
					m, err := r.NextAppendMessage()
					if err != nil || m == nil {
						break
					}
					if m.Catenate {
						for {
							p, err := r.NextCatPart()
							if err != nil || p == nil {
								break
							}
							if p.Text != nil {
								io.Copy(io.Discard, p.Text)
							}
						}
						continue
					}
					if m.Body.Size > fuzzOpts.MaxAppendSize {
						t.Fatalf("append literal of %d over the limit", m.Body.Size)
					}
					io.Copy(io.Discard, m.Body)
				}
			}
		}
	})
}

// FuzzWriterString checks that whatever String writes is read back as the
// same string (minus NULs, which it drops).
func FuzzWriterString(f *testing.F) {
	for _, s := range []string{"atom", "two words", "q\"\\", "", "NIL", "a\r\nb", "café", "a\x00b"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, utf8 bool) {
		w, buf := newTestWriter()
		w.SetUTF8Accept(utf8)
		w.Token("a LOGIN ")
		w.AString(s)
		w.Token(" x\r\n")
		w.Flush()
		r := NewReader(bufio.NewReader(buf), nil, Options{MaxLineLength: 1 << 20, MaxLiteral: 1 << 20, MaxCommandSize: 4 << 20})
		r.SetAuthenticated(true)
		r.SetUTF8Accept(utf8)
		cmd, err := r.ReadCommand()
		if err != nil {
			t.Fatalf("%q written as %q: %v", s, buf.String(), err)
		}
		if got, want := cmd.(*Login).Username, strings.ReplaceAll(s, "\x00", ""); got != want {
			t.Fatalf("%q read back as %q", want, got)
		}
	})
}
