package imap

import (
	"context"
	"errors"

	"github.com/emersion/go-imap/v2"

	"pillarbox/mailbox"
	"pillarbox/store"
)

// fail turns an error into the IMAP response for it: the one place where
// the mailbox package's errors meet the wire. Errors it does not know are
// logged in full and answered NO [SERVERBUG] without detail.
func (s *session) fail(what string, err error) error {
	var ie *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return ie
	case errors.Is(err, mailbox.ErrNoSuchFolder):
		return no(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, mailbox.ErrFolderExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, mailbox.ErrBadFolderName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name: "+detail(err, mailbox.ErrBadFolderName))
	case errors.Is(err, mailbox.ErrNotAllowed):
		return no(imap.ResponseCodeCannot, detail(err, mailbox.ErrNotAllowed))
	case errors.Is(err, mailbox.ErrLimit):
		return no(imap.ResponseCodeLimit, "Too many: "+detail(err, mailbox.ErrLimit))
	case errors.Is(err, mailbox.ErrBadSpecialUse):
		return no(codeUseAttr, "Unsupported special-use attribute")
	case errors.Is(err, mailbox.ErrBadFlag):
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug,
			Text: "Invalid flag: " + detail(err, mailbox.ErrBadFlag)}
	case errors.Is(err, mailbox.ErrUnknownEncoding):
		return no(imap.ResponseCodeUnknownCTE, "Unknown Content-Transfer-Encoding")
	case errors.Is(err, mailbox.ErrSearchLimit):
		return no(imap.ResponseCodeLimit, "Search too complex: "+detail(err, mailbox.ErrSearchLimit))
	case errors.Is(err, mailbox.ErrOverQuota):
		// RFC 9208 4.3 (and RFC 5530 3): APPEND, COPY and MOVE that would
		// take the account past its storage quota fail with OVERQUOTA.
		var qe *mailbox.QuotaError
		if errors.As(err, &qe) && qe.Permanent() {
			return no(imap.ResponseCodeOverQuota, "Message larger than the mailbox quota")
		}
		return no(imap.ResponseCodeOverQuota, "Mailbox quota exceeded")
	case errors.Is(err, store.ErrFull):
		return no(imap.ResponseCodeUnavailable, "Storage is full, try again later")
	case errors.Is(err, context.DeadlineExceeded):
		return no(imap.ResponseCodeUnavailable, "Timed out, try again later")
	}
	s.srv.log.Error("imap: "+what, "user", s.account.Address, "err", err)
	return no(imap.ResponseCodeServerBug, "Internal server error")
}

func no(code imap.ResponseCode, text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

func bad(text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: text}
}

// detail is the part of err's message after the sentinel's, for clients.
func detail(err, sentinel error) string {
	msg, prefix := err.Error(), sentinel.Error()
	for i := 0; i+len(prefix) <= len(msg); i++ {
		if msg[i:i+len(prefix)] == prefix {
			rest := msg[i+len(prefix):]
			if len(rest) > 2 && rest[:2] == ": " {
				return rest[2:]
			}
			return prefix
		}
	}
	return msg
}

// codeUseAttr refuses a special-use attribute (RFC 6154 5.3).
const codeUseAttr imap.ResponseCode = "USEATTR"
