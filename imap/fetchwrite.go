package imap

import (
	"bytes"
	"context"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// fetchItems is what a FETCH asks for: go-imap's options plus the items
// they have no field for.
type fetchItems struct {
	imap.FetchOptions
	RFC822, RFC822Header, RFC822Text bool
	// CHANGEDSINCE (RFC 7162 3.1.4): only messages whose MODSEQ is
	// above changedSince; VANISHED (3.2.6) with it.
	changedSince    uint64
	hasChangedSince bool
	vanished        bool
	// PREVIEW (RFC 8970), EMAILID and THREADID (RFC 8474), SAVEDATE (RFC
	// 8514).
	preview, emailID, threadID, saveDate bool
	// notification: the FETCH is NOTIFY's, unasked at that moment; a
	// message that cannot be written (BINARY of an unknown encoding) is
	// left out rather than failing whatever command is running.
	notification bool
	// change: the responses tell of a change this session made (STORE,
	// a FETCH that set \Seen).
	change bool
}

// smallMessage is the size up to which a message is read whole in its
// batch's snapshot for any item that reads its octets (a part, a header,
// a partial range, a preview): cheaper than a read transaction of its own
// when the response is written.
const smallMessage = 64 << 10

// bodyReads returns the size of the largest message whose octets
// eachMessage reads in its snapshot for f; 0 if f reads none. Items that
// send whole messages (RFC822, BODY[], BINARY[]) read messages of any
// size there (as the batch's budget allows); the others read the small
// ones, and a range of a large one when it is written.
func (f *fetchItems) bodyReads() int64 {
	if f.RFC822 {
		return bodyBudget
	}
	for _, bs := range f.BodySection {
		if len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone && bs.Partial == nil {
			return bodyBudget
		}
	}
	for _, bs := range f.BinarySection {
		if len(bs.Part) == 0 && bs.Partial == nil {
			return bodyBudget
		}
	}
	if f.RFC822Header || f.RFC822Text || f.preview || len(f.BodySection) > 0 || len(f.BinarySection) > 0 || len(f.BinarySectionSize) > 0 {
		return smallMessage
	}
	return 0
}

func fetchOf(c *wire.Fetch) *fetchItems {
	f := &fetchItems{FetchOptions: c.Options, RFC822: c.RFC822, RFC822Header: c.RFC822Header, RFC822Text: c.RFC822Text,
		changedSince: c.Options.ChangedSince, hasChangedSince: c.HasChangedSince, vanished: c.Vanished,
		preview: c.Preview || c.PreviewLazy, emailID: c.EmailID, threadID: c.ThreadID, saveDate: c.SaveDate}
	f.UID = f.UID || c.UID
	return f
}

// setsSeen reports whether the fetch sets \Seen: BODY[...] without PEEK,
// BINARY[...] likewise, RFC822 and RFC822.TEXT (RFC 9051 6.4.5, RFC 3501
// 6.4.5).
func (f *fetchItems) setsSeen() bool {
	if f.RFC822 || f.RFC822Text {
		return true
	}
	for _, bs := range f.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range f.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

// section is one literal of a FETCH response, loaded before the response
// is written.
type section struct {
	name func(w *wire.Writer)
	data []byte
	// binary: the client asked with BINARY, so data with NUL goes in a
	// literal8 (RFC 3516 4.2).
	binary bool
}

// writeMessage loads what f asks of msg and writes one FETCH response.
// Everything is loaded before the first byte is written, so that a
// message expunged meanwhile is left out whole.
func (s *session) writeMessage(ctx context.Context, msg *mailbox.Message, seq uint32, f *fetchItems) error {
	src := &source{svc: s.srv.svc, ctx: ctx, msg: msg}
	var secs []section
	add := func(name func(w *wire.Writer), data []byte, err error) error {
		if err != nil {
			return err
		}
		secs = append(secs, section{name: name, data: data})
		return nil
	}
	if f.RFC822 {
		b, err := src.bytes(0, msg.Size)
		if err := add(func(w *wire.Writer) { w.Token("RFC822") }, b, err); err != nil {
			return skipGone(err)
		}
	}
	if f.RFC822Header {
		b, err := src.bodySection(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader})
		if err := add(func(w *wire.Writer) { w.Token("RFC822.HEADER") }, b, err); err != nil {
			return skipGone(err)
		}
	}
	if f.RFC822Text {
		b, err := src.bodySection(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})
		if err := add(func(w *wire.Writer) { w.Token("RFC822.TEXT") }, b, err); err != nil {
			return skipGone(err)
		}
	}
	for _, bs := range f.BodySection {
		b, err := src.bodySection(bs)
		if err := add(func(w *wire.Writer) { w.BodySectionName(bs) }, b, err); err != nil {
			return skipGone(err)
		}
	}
	for _, bs := range f.BinarySection {
		b, err := src.binarySection(bs.Part)
		if err != nil {
			return skipGone(err)
		}
		secs = append(secs, section{name: func(w *wire.Writer) { w.BinarySectionName(bs.Part, bs.Partial) },
			data: partial(b, bs.Partial), binary: true})
	}
	var preview string
	if f.preview {
		if p := mailbox.PreviewPart(msg.Structure); p != nil {
			b, err := src.bytes(mailbox.PreviewRange(p))
			if err != nil {
				return skipGone(err)
			}
			preview = mailbox.Preview(p, b)
		}
	}
	binarySizes := make([]int, len(f.BinarySectionSize))
	for i, bs := range f.BinarySectionSize {
		b, err := src.binarySection(bs.Part)
		if err != nil {
			return skipGone(err)
		}
		binarySizes[i] = len(b)
	}

	w := s.w
	var flags []imap.Flag
	if f.Flags {
		flags = s.withRecent(flagsOf(msg.Flags), msg.UID)
		s.announceKeywords(flags)
	}
	w.Untagged()
	w.Number(seq)
	w.Token(" FETCH (")
	sep := func() {}
	item := func(name string) {
		sep()
		sep = w.SP
		w.Token(name)
	}
	// RFC 7162 3.2.4: once CONDSTORE is on, a FETCH response that tells
	// of a change (STORE's, a \Seen a FETCH set, NOTIFY's) carries UID
	// and MODSEQ, as the unsolicited ones do (writeFlagsFetch); other
	// FETCH answers carry what was asked. A QRESYNC client keys what it
	// holds by UID: with QRESYNC on, every FETCH response carries it.
	change := s.enabled.condstore && (f.change || f.notification)
	if f.UID || change || s.enabled.qresync {
		item("UID ")
		w.Number(msg.UID)
	}
	if f.Flags {
		item("FLAGS ")
		w.Flags(flags)
	}
	if f.InternalDate {
		item("INTERNALDATE ")
		w.DateTime(msg.InternalDate)
	}
	if f.RFC822Size {
		item("RFC822.SIZE ")
		w.Number64(uint64(msg.Size))
	}
	if f.Envelope {
		item("ENVELOPE ")
		writeEnvelope(w, msg.Envelope)
	}
	if f.ModSeq || f.hasChangedSince || change {
		item("MODSEQ (")
		w.Number64(msg.ModSeq)
		w.Token(")")
		s.shownModSeq = max(s.shownModSeq, msg.ModSeq)
	}
	if f.emailID {
		// The stored message: copies share it, as RFC 8474 5.1 wants.
		item("EMAILID (")
		w.Token(emailID(msg.BlobID))
		w.Token(")")
	}
	if f.saveDate {
		item("SAVEDATE ")
		w.DateTime(msg.SaveDate)
	}
	if f.threadID {
		item("THREADID NIL") // RFC 8474 5.2: no thread ids kept
	}
	if f.preview {
		item("PREVIEW ")
		w.String(preview)
	}
	if f.BodyStructure != nil {
		if f.BodyStructure.Extended {
			item("BODYSTRUCTURE ")
		} else {
			item("BODY ")
		}
		w.BodyStructure(bodyStructure(msg.Structure), f.BodyStructure.Extended)
	}
	for _, sec := range secs {
		sep()
		sep = w.SP
		sec.name(w)
		w.SP()
		if err := writeData(w, sec.data, sec.binary); err != nil {
			return err
		}
	}
	for i, bs := range f.BinarySectionSize {
		sep()
		sep = w.SP
		w.BinarySizeName(bs.Part)
		w.SP()
		w.Number64(uint64(binarySizes[i]))
	}
	w.Token(")")
	w.CRLF()
	return w.Err()
}

// emailID and mailboxID are the object ids of RFC 8474: the store's
// ids, which are never reused, with a letter in front.
func emailID(blob int64) string     { return "E" + strconv.FormatInt(blob, 10) }
func mailboxID(folder int64) string { return "M" + strconv.FormatInt(folder, 10) }

// writeData writes a section's octets. A NUL may only travel in a
// literal8 (RFC 9051 4.3): for BINARY the client asked for one; for BODY
// each NUL becomes 0x80, as Dovecot sends it, since the client can take
// nothing else.
func writeData(w *wire.Writer, b []byte, binary bool) error {
	if !wire.HasNUL(b) {
		return w.LiteralBytes(b)
	}
	if binary {
		return w.BinaryLiteral(int64(len(b)), bytes.NewReader(b))
	}
	clean := bytes.ReplaceAll(b, []byte{0}, []byte{0x80})
	return w.LiteralBytes(clean)
}

// writeEnvelope writes ENVELOPE (RFC 9051 7.5.2) from the stored
// envelope, source routes included.
func writeEnvelope(w *wire.Writer, e *mailbox.Envelope) {
	if e == nil {
		e = &mailbox.Envelope{}
	}
	w.Token("(")
	if e.Date.IsZero() {
		w.NIL()
	} else {
		w.String(e.Date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	w.SP()
	nstring(w, e.Subject)
	for _, l := range [][]mailbox.EnvAddress{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		w.SP()
		if len(l) == 0 {
			w.NIL()
			continue
		}
		w.Token("(")
		for _, a := range l {
			w.Address(a.Name, a.Route, a.Mailbox, a.Host)
		}
		w.Token(")")
	}
	w.SP()
	nstring(w, msgIDs(e.InReplyTo))
	w.SP()
	if e.MessageID == "" {
		w.NIL()
	} else {
		w.String("<" + e.MessageID + ">")
	}
	w.Token(")")
}

// msgIDs writes message ids back in their angle brackets.
func msgIDs(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return "<" + strings.Join(ids, "> <") + ">"
}

func nstring(w *wire.Writer, s string) {
	w.NString(s, s != "")
}
