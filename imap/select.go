package imap

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox"
)

// systemFlags are the flags every mailbox offers (FLAGS); keywords can be
// made by any client (\* in PERMANENTFLAGS).
var systemFlags = []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft}

// Select opens a folder (SELECT or EXAMINE). The library has already
// closed the previous one with Unselect.
func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	f, err := s.srv.svc.Folder(ctx, s.account.ID, name)
	if err != nil {
		return nil, s.fail("select", err)
	}
	rev1 := !s.conn.EnabledCaps().Has(imap.CapIMAP4rev2)
	var v *view
	data := &imap.SelectData{}
	var keywords []string
	err = s.srv.svc.ReadMailbox(ctx, f.ID, func(f mailbox.Folder, c mailbox.FolderCounts) {
		v = s.srv.hub.attach(f, c.Messages, options.ReadOnly)
	}, func(r *mailbox.Reader) error {
		var err error
		if keywords, err = r.Keywords(); err != nil {
			return err
		}
		f := r.Folder()
		data.NumMessages = r.Counts().Messages
		data.UIDNext = imap.UID(f.UIDNext)
		data.UIDValidity = f.UIDValidity
		if rev1 {
			// The snapshot is the client's view: it was just attached.
			n, err := r.FirstUnseen()
			if err != nil {
				return err
			}
			data.FirstUnseenSeqNum = n
		}
		return nil
	})
	if err != nil {
		if v != nil {
			v.close()
		}
		return nil, s.fail("select", err)
	}
	// FLAGS and PERMANENTFLAGS list the folder's keywords too (RFC 9051
	// 7.3.5), which the box keeps for announcing new ones.
	v.box.knowKeywords(keywords)
	data.Flags = append(append([]imap.Flag(nil), systemFlags...), keywordFlags(keywords)...)
	if options.ReadOnly {
		data.PermanentFlags = []imap.Flag{}
	} else {
		data.PermanentFlags = append(slices.Clone(data.Flags), imap.FlagWildcard)
	}
	s.view = v
	return data, nil
}

// keywordFlags turns keywords into flags.
func keywordFlags(kws []string) []imap.Flag {
	out := make([]imap.Flag, len(kws))
	for i, k := range kws {
		out[i] = imap.Flag(k)
	}
	return out
}

// Unselect closes the selected folder (also after CLOSE's expunge).
func (s *session) Unselect() error {
	if s.view != nil {
		s.view.close()
		s.view = nil
	}
	return nil
}

// Poll writes the changes made by others (after every command).
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.view == nil {
		return nil
	}
	if s.view.isGone() {
		s.conn.Bye("The selected mailbox was deleted")
		return nil
	}
	return s.view.poll(w, allowExpunge)
}

// Idle writes every change made by others as it commits, until stop.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.idleMu.Lock()
	if s.ended {
		s.idleMu.Unlock()
		return nil
	}
	s.idling.Add(1)
	s.idleMu.Unlock()
	defer s.idling.Done()
	v := s.view
	if v == nil {
		<-stop
		return nil
	}
	if err := s.Poll(w, true); err != nil {
		return err
	}
	for {
		select {
		case <-stop:
			return nil
		case <-v.notify:
			if err := s.Poll(w, true); err != nil {
				return err
			}
		}
	}
}

// selected returns the selected view, or the error for commands that
// need one.
func (s *session) selected() (*view, error) {
	if s.view == nil {
		return nil, bad("No mailbox selected")
	}
	return s.view, nil
}

// writable returns the selected view if it may be changed (not EXAMINE).
func (s *session) writable() (*view, error) {
	v, err := s.selected()
	if err != nil {
		return nil, err
	}
	if v.readOnly {
		return nil, no("READ-ONLY", "The mailbox is open read-only (EXAMINE)")
	}
	return v, nil
}
