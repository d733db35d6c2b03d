package imap

import (
	"context"
	"errors"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"pillarbox/mailbox"
)

// read runs fn in a snapshot of the selected folder, with the mapping
// between the client's sequence numbers and the snapshot's.
func (s *session) read(ctx context.Context, v *view, fn func(*mailbox.Reader, *mapping) error) error {
	var m mapping
	return s.srv.svc.ReadMailbox(ctx, v.folder.ID, func(mailbox.Folder, mailbox.FolderCounts) {
		m = v.capture()
	}, func(r *mailbox.Reader) error {
		return fn(r, &m)
	})
}

// resolveSet turns a command's set into UIDs in a snapshot of its own.
func (s *session) resolveSet(ctx context.Context, v *view, set imap.NumSet) (mailbox.UIDSet, error) {
	var uids mailbox.UIDSet
	err := s.read(ctx, v, func(r *mailbox.Reader, m *mapping) error {
		var err error
		uids, err = resolve(r, m, v, set, false)
		return err
	})
	return uids, err
}

// Batch sizes of eachMessage: rows are small without the envelope and
// structure.
const (
	batchFlagRows = 5000
	batchRows     = 1000
	batchMetaRows = 100
)

// eachMessage calls fn for every message with a UID in set that the
// client knows, in UID order, with its client sequence number.
//
// It reads a batch of rows per snapshot and calls fn after the snapshot
// is closed, so a slow client holds no database connection. Each batch's
// sequence numbers are those of its own snapshot, seen through that
// snapshot's mapping; a message expunged between batches is left out.
func (s *session) eachMessage(ctx context.Context, v *view, set mailbox.UIDSet, want mailbox.Want, fn func(msg *mailbox.Message, seq uint32) error) error {
	if len(set) == 0 {
		return nil
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
	for i < len(set) {
		var batch []mailbox.Message
		var m mapping
		err := s.read(ctx, v, func(r *mailbox.Reader, mm *mapping) error {
			m = *mm
			if counted {
				for _, e := range m.events[min(nevents, len(m.events)):] {
					if e.expunge && e.n <= below {
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
			for len(batch) < size && i < len(set) {
				rg := set[i]
				room := size - len(batch)
				rows, err := r.Messages(next, rg.Stop, room, below+1, want)
				if err != nil {
					return err
				}
				batch = append(batch, rows...)
				below += uint32(len(rows))
				if len(rows) == room && rows[len(rows)-1].UID < rg.Stop {
					next = rows[len(rows)-1].UID + 1
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
			return nil
		})
		if err != nil {
			return err
		}
		for k := range batch {
			msg := &batch[k]
			seq := m.toClient(msg.Seq)
			if seq == 0 {
				continue // the client has not been told of it yet
			}
			if err := fn(msg, seq); err != nil {
				return err
			}
		}
	}
	return nil
}

// Fetch answers FETCH and UID FETCH.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	v, err := s.selected()
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	uids, err := s.resolveSet(ctx, v, numSet)
	if err != nil {
		return s.fail("fetch", err)
	}
	opts := *options
	if !v.readOnly && setsSeen(options) {
		// RFC 9051 6.4.5: BODY[...] (not PEEK) sets \Seen; the new flags go
		// with the response, since this session is not told of its own
		// change.
		s.busy.Lock()
		err := s.srv.svc.StoreFlags(ctx, s.account.ID, v.folder.ID, uids, mailbox.FlagsAdd, []string{mailbox.FlagSeen}, v)
		s.busy.Unlock()
		if err != nil {
			return s.fail("fetch", err)
		}
		opts.Flags = true
	}
	return s.fetchUIDs(ctx, w, v, uids, &opts)
}

func setsSeen(o *imap.FetchOptions) bool {
	for _, bs := range o.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range o.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

// fetchUIDs writes the FETCH responses for the messages in uids.
func (s *session) fetchUIDs(ctx context.Context, w *imapserver.FetchWriter, v *view, uids mailbox.UIDSet, o *imap.FetchOptions) error {
	want := mailbox.WantFlags
	if o.InternalDate || o.RFC822Size || len(o.BodySection) > 0 {
		want = mailbox.WantRow
	}
	if o.Envelope || o.BodyStructure != nil || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		want = mailbox.WantStructure
	}
	for _, bs := range o.BodySection {
		if len(bs.Part) > 0 || bs.Specifier != imap.PartSpecifierNone {
			want = mailbox.WantStructure
		}
	}
	err := s.eachMessage(ctx, v, uids, want, func(msg *mailbox.Message, seq uint32) error {
		return s.writeMessage(ctx, w, msg, seq, o)
	})
	if err != nil {
		return s.fail("fetch", err)
	}
	return nil
}

// writeMessage loads what o asks of msg and writes one FETCH response.
// The writer holds the connection while it is open, so everything is
// loaded first.
func (s *session) writeMessage(ctx context.Context, w *imapserver.FetchWriter, msg *mailbox.Message, seq uint32, o *imap.FetchOptions) error {
	src := &source{svc: s.srv.svc, ctx: ctx, msg: msg}
	bodies := make([][]byte, len(o.BodySection))
	for i, bs := range o.BodySection {
		b, err := src.bodySection(bs)
		if err != nil {
			return skipGone(err)
		}
		bodies[i] = b
	}
	binaries := make([][]byte, len(o.BinarySection))
	for i, bs := range o.BinarySection {
		b, err := src.binarySection(bs.Part)
		if err != nil {
			return skipGone(err)
		}
		binaries[i] = partial(b, bs.Partial)
	}
	binarySizes := make([]uint32, len(o.BinarySectionSize))
	for i, bs := range o.BinarySectionSize {
		b, err := src.binarySection(bs.Part)
		if err != nil {
			return skipGone(err)
		}
		binarySizes[i] = uint32(min(len(b), 1<<32-1))
	}

	rw := w.CreateMessage(seq)
	if o.UID {
		rw.WriteUID(imap.UID(msg.UID))
	}
	if o.Flags {
		rw.WriteFlags(flagsOf(msg.Flags))
	}
	if o.InternalDate {
		rw.WriteInternalDate(msg.InternalDate.UTC())
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(msg.Size)
	}
	if o.Envelope {
		rw.WriteEnvelope(envelope(msg.Envelope))
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(bodyStructure(msg.Structure))
	}
	for i, bs := range o.BodySection {
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(bodies[i]))), bodies[i]); err != nil {
			rw.Close()
			return err
		}
	}
	for i, bs := range o.BinarySection {
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(binaries[i]))), binaries[i]); err != nil {
			rw.Close()
			return err
		}
	}
	for i, bs := range o.BinarySectionSize {
		rw.WriteBinarySectionSize(bs, binarySizes[i])
	}
	return rw.Close()
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

// skipGone leaves out a message that was expunged while it was read.
func skipGone(err error) error {
	if errors.Is(err, mailbox.ErrNoSuchMessage) {
		return nil
	}
	return err
}
