package imap

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"pillarbox/store/storetest"
	"strings"
	"sync"
	"testing"
	"time"
)

// panicLog records whether the server logged a panic.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicLog) Write(b []byte) (int, error) {
	if s := string(b); strings.Contains(s, "panic") {
		p.mu.Lock()
		p.panics = append(p.panics, s)
		p.mu.Unlock()
	}
	return len(b), nil
}

func (p *panicLog) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.panics
	p.panics = nil
	return out
}

// FuzzCommand feeds arbitrary command lines to a logged-in session with a
// mailbox selected. Whatever the input, the server must not panic, and
// must go on serving other sessions.
func FuzzCommand(f *testing.F) {
	for _, seed := range []string{
		"NOOP",
		"FETCH 1:* (FLAGS BODY[HEADER.FIELDS (FROM)]<0.10> BINARY[1]<1.2> BODYSTRUCTURE)",
		"UID FETCH 1:*,* (UID RFC822.SIZE ENVELOPE BODY.PEEK[1.2.3.MIME])",
		"FETCH 4294967295 FLAGS",
		"FETCH 1 (BODY[1.HEADER.FIELDS.NOT ()])",
		"SEARCH OR (FROM a TO b) NOT (SUBJECT \"c\" (BODY d)) SENTON 1-Jan-2024 LARGER 5",
		"SEARCH RETURN (MIN MAX COUNT SAVE) UID $ KEYWORD x HEADER \"\" \"\"",
		"SEARCH ((((((((((((((((((((ALL))))))))))))))))))))",
		"SEARCH (SEEN",
		"STORE 1:* +FLAGS.SILENT (\\Seen $X)",
		"STORE 1 FLAGS (\\Bogus)",
		"COPY 1:* Trash",
		"MOVE 2 \"&Jjo\"",
		"UID EXPUNGE 1:*",
		"LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" \"%/%\") RETURN (CHILDREN STATUS (MESSAGES DELETED-STORAGE))",
		"STATUS INBOX (DELETED-STORAGE APPENDLIMIT RECENT)",
		"CREATE \"a/b\" (USE (\\Junk))",
		"RENAME INBOX x",
		"APPEND INBOX (\\Seen) \"1-Jan-2024 00:00:00 +0000\" {5+}\r\nhello",
		"APPEND INBOX {99999999999}",
		"LOGIN {5}",
		"IDLE\r\nDONE",
		"ENABLE IMAP4rev2 UTF8=ACCEPT",
		"SELECT \"\"",
		"EXAMINE INBOX",
		"UNSELECT",
		"\x00\xff\xfe",
		"FETCH 1 BODY[",
	} {
		f.Add(seed)
	}
	logs := &panicLog{}
	e := newEnvAt(f, storetest.New(f, pg), Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}, true)
	for i := 1; i <= 3; i++ {
		e.deliver("alice", testMessage(i))
	}
	e.deliver("alice", string(readFixture(f, "nested.eml")))

	f.Fuzz(func(t *testing.T, line string) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(c)
		io.WriteString(c, "a LOGIN alice@example.org "+testPassword+"\r\nb SELECT INBOX\r\nc "+line+"\r\nz NOOP\r\n")
		// Read until the last command is answered, the connection ends or
		// the deadline passes (a literal the input declared may be waited
		// for: that is not a failure).
		for {
			l, err := r.ReadString('\n')
			if err != nil || strings.HasPrefix(l, "z ") {
				break
			}
		}
		c.Close()
		if p := logs.take(); len(p) > 0 {
			t.Fatalf("the server panicked on %q:\n%s", line, strings.Join(p, "\n"))
		}
		// Everyone else is served as before.
		other := dialRaw(t, e.addr, "bob")
		other.ok("SELECT INBOX")
		other.ok("LOGOUT")
	})
}
