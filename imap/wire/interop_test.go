package wire

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// parsed is what the test server saw: a command, and for APPEND the bodies.
type parsed struct {
	cmd    Command
	bodies []string
}

// serveParse is a minimal server on ln: it greets with caps, reads each
// command with a Reader (continuations through a Writer), records it on
// out and answers OK, until LOGOUT or an error.
func serveParse(t *testing.T, ln net.Listener, caps string, out chan<- parsed) {
	conn, err := ln.Accept()
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	w := NewWriter(bufio.NewWriter(conn))
	r := NewReader(bufio.NewReader(conn), func() error { w.Continue("Ready"); return w.Flush() }, Options{})
	w.StatusResponse("", OK, "CAPABILITY "+caps, "ready")
	w.Flush()
	for {
		cmd, err := r.ReadCommand()
		var we *Error
		if errors.As(err, &we) {
			t.Errorf("server: %v", we)
			w.ErrorResponse(we)
			w.Flush()
			continue
		}
		if err != nil {
			return
		}
		p := parsed{cmd: cmd}
		switch cmd.(type) {
		case *Login:
			r.SetAuthenticated(true)
		case *Append:
			for {
				m, err := r.NextAppendMessage()
				if err != nil {
					t.Errorf("server: append: %v", err)
					break
				}
				if m == nil {
					break
				}
				b, err := io.ReadAll(m.Body)
				if err != nil {
					t.Errorf("server: append body: %v", err)
				}
				p.bodies = append(p.bodies, string(b))
			}
		case *Capability:
			w.Untagged()
			w.Token("CAPABILITY " + caps)
			w.CRLF()
		case *Logout:
			w.StatusResponse("", BYE, "", "bye")
		}
		out <- p
		w.StatusResponse(cmd.CommandTag(), OK, "", cmd.CommandName()+" done")
		if err := w.Flush(); err != nil {
			return
		}
	}
}

// TestImapclientCommands checks that what go-imap's client sends is parsed
// into the structures the client meant, literals included (the server
// advertises no LITERAL+, so APPEND goes through a continuation).
func TestImapclientCommands(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := make(chan parsed, 64)
	go serveParse(t, ln, "IMAP4rev1 MOVE ESEARCH CONDSTORE SORT THREAD=REFERENCES SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS QUOTA ID", out)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()

	next := func() parsed {
		t.Helper()
		for {
			select {
			case p := <-out:
				if _, ok := p.cmd.(*Capability); ok {
					continue // the client asks again after LOGIN
				}
				return p
			case <-time.After(10 * time.Second):
				t.Fatal("timeout waiting for the server")
				return parsed{}
			}
		}
	}

	if err := c.Login("joe@example.com", `p "w\d`).Wait(); err != nil {
		t.Fatal(err)
	}
	if l := next().cmd.(*Login); l.Username != "joe@example.com" || l.Password != `p "w\d` {
		t.Errorf("LOGIN %+v", l)
	}

	c.Create("Entwürfe", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrDrafts}}).Wait()
	if cr := next().cmd.(*Create); cr.Mailbox != "Entwürfe" || len(cr.SpecialUse) != 1 || cr.SpecialUse[0] != imap.MailboxAttrDrafts {
		t.Errorf("CREATE %+v", cr)
	}

	c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if s := next().cmd.(*Select); s.Mailbox != "INBOX" || !s.CondStore || s.ReadOnly {
		t.Errorf("SELECT %+v", s)
	}

	msg := "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
	ac := c.Append("Entwürfe", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	io.WriteString(ac, msg)
	ac.Close()
	ac.Wait()
	p := next()
	if a := p.cmd.(*Append); a.Mailbox != "Entwürfe" || len(p.bodies) != 1 || p.bodies[0] != msg {
		t.Errorf("APPEND %+v %q", a, p.bodies)
	}

	c.Fetch(imap.UIDSetNum(1, 5, 7), &imap.FetchOptions{Flags: true, Envelope: true, ModSeq: true, ChangedSince: 9,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: 64}}}}).Close()
	f := next().cmd.(*Fetch)
	if !f.UID || f.Set.String() != "1,5,7" || !f.Options.Flags || !f.Options.Envelope || !f.Options.ModSeq || f.Options.ChangedSince != 9 ||
		len(f.Options.BodySection) != 1 || f.Options.BodySection[0].HeaderFields[0] != "Subject" || !f.Options.BodySection[0].Peek ||
		f.Options.BodySection[0].Partial.Size != 64 {
		t.Errorf("FETCH %+v", f)
	}

	c.UIDSearch(&imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "smith"}},
		Since:  time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		Not:    []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}},
		Or:     [][2]imap.SearchCriteria{{{Body: []string{"x y"}}, {Larger: 1000}}},
	}, &imap.SearchOptions{ReturnCount: true}).Wait()
	s := next().cmd.(*Search)
	got, ok := s.Criteria.IMAP()
	if !s.UID || !ok || len(got.Header) != 1 || got.Header[0].Value != "smith" || !got.Since.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) ||
		len(got.Not) != 1 || len(got.Or) != 1 || got.Or[0][0].Body[0] != "x y" || got.Or[0][1].Larger != 1000 {
		t.Errorf("SEARCH %+v", s)
	}

	c.UIDSort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{}, SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeyDate, Reverse: true}}}).Wait()
	if so := next().cmd.(*Sort); !so.UID || len(so.Keys) != 1 || so.Keys[0] != (SortKey{"DATE", true}) {
		t.Errorf("SORT %+v", so)
	}

	c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted, "$Label1"}}, &imap.StoreOptions{UnchangedSince: 4}).Close()
	if st := next().cmd.(*Store); st.UID || st.Flags.Op != imap.StoreFlagsAdd || !st.Flags.Silent || len(st.Flags.Flags) != 2 || st.Options.UnchangedSince != 4 {
		t.Errorf("STORE %+v", st)
	}

	c.Move(imap.UIDSetNum(3), "Trash").Wait()
	if mv := next().cmd.(*Copy); mv.Name != "MOVE" || !mv.UID || mv.Mailbox != "Trash" {
		t.Errorf("MOVE %+v", mv)
	}

	c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, HighestModSeq: true}).Wait()
	if st := next().cmd.(*Status); !st.Options.NumMessages || !st.Options.UIDNext || !st.Options.HighestModSeq {
		t.Errorf("STATUS %+v", st)
	}

	c.List("", "%", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumUnseen: true}, ReturnSpecialUse: true}).Collect()
	if l := next().cmd.(*List); !l.Extended || l.Patterns[0] != "%" || l.Options.ReturnStatus == nil || !l.Options.ReturnStatus.NumUnseen {
		t.Errorf("LIST %+v", l)
	}

	c.ID(&imap.IDData{Name: "test", Version: "1"}).Wait()
	if id := next().cmd.(*ID); len(id.Params) != 2 {
		t.Errorf("ID %+v", id)
	}

	c.Logout().Wait()
	if _, ok := next().cmd.(*Logout); !ok {
		t.Error("no LOGOUT")
	}
}
