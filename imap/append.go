package imap

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// Bounds of one APPEND beyond APPENDLIMIT, which the Reader applies to
// each message literal (and cmdCatenate to each catenated message). The
// messages of a MULTIAPPEND (RFC 3502) are held in memory until the last
// one is read, because they are stored in one transaction, all or none:
// so the command as a whole is bounded too, by a count and by
// appendTotalFactor times APPENDLIMIT in octets. One message up to
// APPENDLIMIT always fits.
const (
	maxAppendMessages = 1000
	appendTotalFactor = 2
)

// cmdAppend stores messages (RFC 9051 6.3.12): one, or several with
// MULTIAPPEND (RFC 3502), each a literal or built with CATENATE (RFC
// 4469), and answers APPENDUID with their UIDs (RFC 4315). The messages
// are read one at a time, each body in full before the next literal is
// asked for; nothing is stored unless every one is read and accepted,
// and then all are stored in one transaction. Each message is analysed
// once, as delivery does.
func (s *session) cmdAppend(c *wire.Append) (result, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	// The folder is looked for before the client sends a message it
	// waits to send (the Reader skips what it sends anyway), before
	// CATENATE resolves its URLs, and before a second message is read. A
	// plain first message sent without waiting is here already:
	// AppendMessages finds the folder, or refuses alike.
	checked := false
	check := func() error {
		checked = true
		_, err := s.srv.svc.Folder(ctx, s.account.ID, c.Mailbox)
		if errors.Is(err, mailbox.ErrNoSuchFolder) {
			return no(imap.ResponseCodeTryCreate, "No such mailbox")
		}
		return s.fail("append", err)
	}
	limit := s.srv.opts.AppendLimit
	var msgs []mailbox.NewMessage
	var total int64
	for {
		if !checked && (!c.NonSync || len(msgs) > 0) {
			if err := check(); err != nil {
				return result{}, err
			}
		}
		m, err := s.r.NextAppendMessage()
		if err != nil {
			return result{}, s.readErr(err)
		}
		if m == nil {
			break
		}
		if len(msgs) == maxAppendMessages {
			return result{}, no(imap.ResponseCodeLimit, fmt.Sprintf("At most %d messages in one APPEND", maxAppendMessages))
		}
		var raw []byte
		if m.Catenate && !checked {
			if err := check(); err != nil {
				return result{}, err
			}
		}
		if m.Catenate {
			raw, err = s.catenate(ctx, limit)
		} else {
			if total+m.Body.Size > appendTotalFactor*limit {
				return result{}, appendTooMuch(limit)
			}
			s.literalDeadline(m.Body.Size)
			raw, err = readLiteral(m.Body)
			if err != nil {
				err = s.readErr(err)
			}
		}
		if err != nil {
			return result{}, err
		}
		if len(raw) == 0 {
			return result{}, no(imap.ResponseCodeCannot, "An empty message cannot be stored")
		}
		if total += int64(len(raw)); total > appendTotalFactor*limit {
			return result{}, appendTooMuch(limit)
		}
		msgs = append(msgs, mailbox.NewMessage{Raw: raw, Flags: flagNames(m.Flags), Date: m.Time})
	}
	s.busy.Lock()
	defer s.busy.Unlock()
	f, uids, err := s.srv.svc.AppendMessages(ctx, s.account.ID, c.Mailbox, msgs)
	if errors.Is(err, mailbox.ErrNoSuchFolder) {
		return result{}, no(imap.ResponseCodeTryCreate, "No such mailbox")
	}
	if err != nil {
		return result{}, s.fail("append", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "APPENDUID %d ", f.UIDValidity)
	writeUIDs(&b, uids)
	return result{code: b.String(), text: "APPEND completed"}, nil
}

func appendTooMuch(limit int64) error {
	return no(imap.ResponseCodeLimit, fmt.Sprintf("The messages of one APPEND may take at most %d octets together", appendTotalFactor*limit))
}

// readLiteral reads all of a literal the Reader bounded. Unlike
// io.ReadFull it keeps an error that comes with the last bytes: a NUL
// there is refused as anywhere else.
//
// The buffer grows as the bytes come (never more than twice what came),
// so a client that announces a large literal and sends little holds
// little memory.
func readLiteral(l *wire.Literal) ([]byte, error) {
	b := make([]byte, 0, min(l.Size, 64<<10))
	for int64(len(b)) < l.Size {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(l.Size-int64(len(b)), int64(cap(b)))))
		}
		k, err := l.Read(b[len(b):cap(b)][:min(int64(cap(b)-len(b)), l.Size-int64(len(b)))])
		b = b[:len(b)+k]
		if err != nil && !(errors.Is(err, io.EOF) && int64(len(b)) == l.Size) {
			return nil, err
		}
	}
	return b, nil
}

// readErr turns an error reading a command's later parts into the
// command's answer: a parse error is a BAD (or NO [TOOBIG]); a NUL in a
// literal a BAD; anything else ends the connection.
func (s *session) readErr(err error) error {
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		if we.Fatal {
			// The rest of the command cannot be found: say why and close,
			// as the command loop does.
			s.w.ErrorResponse(we)
			s.w.StatusResponse("", wire.BYE, "", "Cannot read the command, closing")
			s.flush()
			s.markEnded()
			return errClose
		}
		if we.NO {
			return no(imap.ResponseCode(we.Code), we.Reason)
		}
		return bad(we.Reason)
	case errors.Is(err, wire.ErrNULInLiteral):
		return bad("NUL is only allowed in a binary literal (RFC 3516)")
	}
	return errClose
}
