package imap

import (
	"strings"
	"testing"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	e.deliver("alice", testMessage(1))
	c := e.raw("alice")
	t.Log(c.ok("CAPABILITY"))
	t.Log(c.ok("LIST \"\" *"))
	t.Log(c.ok("SELECT INBOX"))
	t.Log(c.ok("FETCH 1:* (FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[])"))
	t.Log(c.appendMsg("INBOX", "(\\Seen) ", testMessage(2)))
	t.Log(c.ok("NOOP"))
	t.Log(c.ok("UID SEARCH BODY message"))
	t.Log(c.ok("SEARCH FROM sender2"))
	t.Log(c.ok("STORE 1 +FLAGS (\\Deleted)"))
	t.Log(c.ok("EXPUNGE"))
	t.Log(c.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT APPENDLIMIT DELETED-STORAGE)"))
	_ = strings.Contains
}
