package smtp

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// Quota refusals (RFC 3463 X.2.2, "mailbox full"). A mailbox that is
// full now may have room later: 452, so that the sender tries again
// (RFC 5321 4.5.3.1.10 names 452 for RCPT). A message larger than the
// whole quota can never be stored: 552 (RFC 1870 6.2 uses it for a
// recipient's size limit), refused for good.
var (
	errMailboxFull = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
	errQuotaTooBig = &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 2, 2},
		Message: "Message larger than the recipient's mailbox quota"}
)

// quotaReply maps an over-quota error to its reply, or returns nil if
// err is not one.
func quotaReply(err error) *gosmtp.SMTPError {
	var qe *mailbox.QuotaError
	if !errors.As(err, &qe) {
		return nil
	}
	if qe.Permanent() {
		return errQuotaTooBig
	}
	return errMailboxFull
}

// rcptQuotaError maps the result of the RCPT-time quota check of a
// local recipient to its reply (nil if it passed). The check refuses a
// recipient whose accounts are already full, or have less room than the
// SIZE the client declared at MAIL (RFC 1870 6.2; 0 when none), so that
// most refusals come per recipient, before the message is sent; the
// delivery checks again after DATA, inside its transaction.
func (srv *Server) rcptQuotaError(a mailbox.Address, err error) error {
	if err == nil {
		return nil
	}
	if r := quotaReply(err); r != nil {
		return r
	}
	srv.log.Error("smtp: quota check", "rcpt", a.String(), "err", err)
	return errRcptTempFail
}
