package imap

import (
	"context"
	"errors"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// read runs fn in a snapshot of the selected folder, with the mapping
// between the client's sequence numbers and the snapshot's.
func (s *session) read(ctx context.Context, v *view, fn func(*mailbox.Reader, *mapping) error) error {
	var m mapping
	return s.srv.svc.ReadMailbox(ctx, v.folder.ID, func(mailbox.Folder, mailbox.FolderCounts) {
		m = v.capture()
	}, func(r *mailbox.Reader) error {
		if m.dropped {
			return errDropped
		}
		useUIDs(r, v, &m)
		return fn(r, &m)
	})
}

// useUIDs maps the reader's sequence numbers with the box's UIDs as of
// its snapshot, or has the reader load them from the snapshot the first
// time it needs them.
func useUIDs(r *mailbox.Reader, v *view, m *mapping) {
	if m.uids != nil {
		if r.UseUIDs(m.uids) {
			return
		}
		// Out of step with the store (cannot happen while every writer
		// takes the folder's lock): load them again.
		v.forgetUIDs()
	}
	if !m.gone {
		// Read them only if the command maps a number: a SELECT
		// (QRESYNC) of an unchanged folder maps none.
		r.LoadUIDs(func(uids []uint32) { v.installUIDs(uids, m.version) })
	}
}

// resolveSet turns a command's set into UIDs: from the box's UIDs when
// it has them (the box is the committed state, as a snapshot taken now
// would be), else in a snapshot of its own. lost reports a message the
// client still sees that was expunged (resolve).
func (s *session) resolveSet(ctx context.Context, v *view, set imap.NumSet) (uids mailbox.UIDSet, lost bool, err error) {
	if m := v.capture(); m.uids != nil { // none when gone or dropped
		return resolve(memUIDs(m.uids), &m, v, set, false)
	}
	err = s.read(ctx, v, func(r *mailbox.Reader, m *mapping) error {
		var err error
		uids, lost, err = resolve(r, m, v, set, false)
		return err
	})
	return uids, lost, err
}

// lostResult is the tagged OK of a SEARCH, SORT, THREAD, FETCH or STORE.
// One by sequence number may not tell of expunges (RFC 9051 7.5.1): if
// a message the client still sees was expunged, and so left out (lost),
// it says so with EXPUNGEISSUED, and the client may want to NOOP (RFC
// 5530 3). A UID command told of the expunges before its OK.
func lostResult(byUID, lost bool) result {
	if lost && !byUID {
		return result{code: "EXPUNGEISSUED", text: "Some messages were already expunged"}
	}
	return result{}
}

// bodyBudget is how many octets of messages a batch of eachMessage
// reads in its snapshot; the rest are read one by one as they are sent.
const bodyBudget = 2 << 20

// Batch sizes of eachMessage: rows are small without the envelope and
// structure.
const (
	batchFlagRows = 5000
	batchRows     = 1000
	batchMetaRows = 100
)

// eachMessage calls fn for every message with a UID in set that the
// client knows, in UID order, with its client sequence number and
// whether flag changes of it are still to be told to the client.
//
// It reads a batch of rows per snapshot and calls fn after the snapshot
// is closed, so a slow client holds no database connection. Each batch's
// sequence numbers are those of its own snapshot, seen through that
// snapshot's mapping; a message expunged between batches is left out.
func (s *session) eachMessage(ctx context.Context, v *view, set mailbox.UIDSet, want mailbox.Want, bodies int64, fn func(msg *mailbox.Message, seq uint32, flagsPending bool) error) error {
	if len(set) == 0 {
		return nil
	}
	if s.srv.ownsStore {
		if kept, err := s.eachKept(v, set, want, fn); kept {
			return err
		}
	}
	size := batchRows
	switch want {
	case mailbox.WantFlags:
		size = batchFlagRows
	case mailbox.WantStructure:
		size = batchMetaRows
	}
	// below counts the messages with a UID below next, as of the last
	// snapshot; nevents is how many mapping events that snapshot had.
	i, next := 0, set[0].Start
	var below uint32
	counted, nevents := false, 0
	// One batch's messages at a time: the array is used again.
	var batch []mailbox.Message
	for i < len(set) {
		batch = batch[:0]
		var m mapping
		err := s.read(ctx, v, func(r *mailbox.Reader, mm *mapping) error {
			m = *mm
			if counted {
				for _, e := range m.events[min(nevents, len(m.events)):] {
					if e.kind == eventExpunged && e.n <= below {
						below--
					}
				}
			} else {
				n, err := r.CountBelow(next)
				if err != nil {
					return err
				}
				below, counted = n, true
			}
			nevents = len(m.events)
			if batch == nil {
				// As many as the set holds, up to a batch: growing
				// the array would copy every row again.
				n, err := countSet(r, set[i:], next, size)
				if err != nil {
					return err
				}
				batch = make([]mailbox.Message, 0, n)
			}
			for len(batch) < size && i < len(set) {
				rg := set[i]
				room := size - len(batch)
				had := len(batch)
				var err error
				batch, err = r.AppendMessages(batch, next, rg.Stop, room, below+1, want)
				if err != nil {
					return err
				}
				got := len(batch) - had
				below += uint32(got)
				if got == room && batch[len(batch)-1].UID < rg.Stop {
					next = batch[len(batch)-1].UID + 1
					continue
				}
				i++
				if i < len(set) {
					gap, err := r.CountUIDs(rg.Stop+1, set[i].Start-1)
					if err != nil {
						return err
					}
					below += gap
					next = set[i].Start
				}
			}
			if bodies > 0 {
				return r.ReadBodies(batch, bodyBudget, bodies)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if want >= mailbox.WantRow && s.srv.ownsStore {
			v.box.keepRows(m.version, batch)
		}
		if err := m.eachKnown(batch, fn); err != nil {
			return err
		}
	}
	return nil
}

// eachKnown calls fn for each of msgs, read when m was captured, that
// the client knows, with its sequence number and whether flag changes
// of it are still to be told.
func (m *mapping) eachKnown(msgs []mailbox.Message, fn func(msg *mailbox.Message, seq uint32, flagsPending bool) error) error {
	for k := range msgs {
		msg := &msgs[k]
		seq := m.toClient(msg.Seq)
		if seq == 0 {
			continue // the client has not been told of it yet
		}
		if err := fn(msg, seq, m.flagged[msg.UID]); err != nil {
			return err
		}
	}
	return nil
}

// cmdFetch answers FETCH and UID FETCH (RFC 9051 6.4.5).
func (s *session) cmdFetch(c *wire.Fetch) (result, error) {
	v := s.view
	ctx, cancel := s.ctx()
	defer cancel()
	uids, lost, err := s.resolveSet(ctx, v, c.Set)
	if err != nil {
		return result{}, s.fail("fetch", err)
	}
	res := lostResult(c.UID, lost)
	f := fetchOf(c)
	if f.ModSeq || f.hasChangedSince {
		if err := s.condStoreOn(); err != nil {
			return result{}, err
		}
	}
	if f.vanished {
		// RFC 7162 3.2.6: only UID FETCH, with CHANGEDSINCE (the parser
		// checks), once QRESYNC is on.
		if !s.enabled.qresync {
			return result{}, bad("VANISHED needs ENABLE QRESYNC")
		}
		if err := s.fetchVanished(ctx, uids, f.changedSince); err != nil {
			return result{}, s.fail("fetch", err)
		}
	}
	if !v.readOnly && f.setsSeen() {
		// RFC 9051 6.4.5: BODY[...] (not PEEK) sets \Seen; the new flags go
		// with the response, since this session is not told of its own
		// change.
		s.busy.Lock()
		err := s.srv.svc.StoreFlags(ctx, s.account.ID, v.folder.ID, uids, mailbox.FlagsAdd, []string{mailbox.FlagSeen}, v)
		s.busy.Unlock()
		if err != nil {
			return result{}, s.fail("fetch", err)
		}
		f.Flags, f.change = true, true
	}
	return res, s.fetchUIDs(ctx, v, uids, f)
}

// countSet counts the messages in set from UID next on, up to limit. A
// set of many ranges is taken as limit: each range is a count of its own
// when the reader has no UIDs in memory.
func countSet(r *mailbox.Reader, set mailbox.UIDSet, next uint32, limit int) (int, error) {
	if len(set) > 64 {
		return limit, nil
	}
	total := 0
	for k, rg := range set {
		lo := rg.Start
		if k == 0 {
			lo = max(lo, next)
		}
		n, err := r.CountUIDs(lo, rg.Stop)
		if err != nil {
			return 0, err
		}
		if total += int(n); total >= limit {
			return limit, nil
		}
	}
	return total, nil
}

// fetchUIDs writes the FETCH responses for the messages in uids.
func (s *session) fetchUIDs(ctx context.Context, v *view, uids mailbox.UIDSet, f *fetchItems) error {
	want := mailbox.WantFlags
	o := &f.FetchOptions
	if o.InternalDate || o.RFC822Size || len(o.BodySection) > 0 || f.RFC822 || f.RFC822Header || f.RFC822Text || f.emailID || f.saveDate {
		want = mailbox.WantRow
	}
	if o.Envelope || o.BodyStructure != nil || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 || f.RFC822Header || f.RFC822Text ||
		f.preview {
		want = mailbox.WantStructure
	}
	for _, bs := range o.BodySection {
		if len(bs.Part) > 0 || bs.Specifier != imap.PartSpecifierNone {
			want = mailbox.WantStructure
		}
	}
	err := s.eachMessage(ctx, v, uids, want, f.bodyReads(), func(msg *mailbox.Message, seq uint32, flagsPending bool) error {
		if f.hasChangedSince && msg.ModSeq <= f.changedSince {
			return nil
		}
		if err := s.writeMessage(ctx, msg, seq, f); err != nil {
			if f.notification {
				s.srv.log.Warn("imap: a new message left out of a NOTIFY fetch", "uid", msg.UID, "err", err)
				return nil
			}
			return err
		}
		if flagsPending && (f.Flags || f.ModSeq) {
			// The flags shown may be newer than changes still to be
			// told (behind an expunge this command may not carry): the
			// poll leaves those out.
			v.noteShown(msg.UID, msg.ModSeq)
		}
		return nil
	})
	if err != nil {
		return s.fail("fetch", err)
	}
	return nil
}

// skipGone leaves out a message that was expunged while it was read.
func skipGone(err error) error {
	if errors.Is(err, mailbox.ErrNoSuchMessage) {
		return nil
	}
	return err
}
