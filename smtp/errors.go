package smtp

import (
	"errors"
	"fmt"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

var errLineTooLong = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: fmt.Sprintf("Message has a line longer than %d bytes", maxLineLength)}

// tooBig refuses a message over the size limit at MAIL (RFC 1870 6.3),
// for a declared SIZE the server parsed and, through the wire, for one
// too large for go-smtp to parse.
func tooBig(limit int64) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4},
		Message: fmt.Sprintf("Message too big, the limit is %d bytes", limit)}
}

// errMessageRate defers a transaction from a client over its per-minute
// message rate (RFC 3463 X.7.0: other security status, as Postfix's
// message rate limit).
var errMessageRate = &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many messages from your address, try again later"}

// errNestedMail refuses a MAIL inside a transaction that has recipients
// (RFC 5321 4.1.4: a command out of order gets 503 and changes nothing).
// Starting over instead would part the session from go-smtp, which keeps
// the recipients it accepted until RSET, EHLO or the end of DATA, counts
// them against the next transaction's limit and answers its DATA with
// 354. A MAIL after a transaction whose recipients were all refused
// still starts over: go-smtp has none.
var errNestedMail = &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "Nested MAIL command: RSET first"}

var errShuttingDown = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2}, Message: "Server shutting down, try again later"}

// rcptError maps a resolution failure to the RCPT reply. Unknown errors
// are temporary: a sender must never bounce mail because of our fault.
func (srv *Server) rcptError(a mailbox.Address, err error) error {
	switch {
	case errors.Is(err, mailbox.ErrNotLocal):
		return errRelayDenied
	case errors.Is(err, mailbox.ErrNoSuchUser):
		return errNoSuchUser
	}
	srv.log.Error("smtp: resolve recipient", "rcpt", a.String(), "err", err)
	return errRcptTempFail
}

// deliveryError maps a failed delivery to the reply after DATA. Nothing
// was stored, and every reply but a message larger than a recipient's
// whole quota is temporary, so the sender tries again.
func (srv *Server) deliveryError(id string, err error) error {
	if r := quotaReply(err); r != nil {
		// Only the whole message can be answered after DATA: with
		// mailbox.Delivery.Partial off, no recipient got it.
		srv.log.Warn("smtp: over quota, message refused", "id", id, "reply", r.Error(), "err", err)
		return r
	}
	if errors.Is(err, mailbox.ErrStorageFull) {
		srv.log.Error("smtp: storage full, message deferred", "id", id, "err", err)
		return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
	}
	srv.log.Error("smtp: delivery failed", "id", id, "err", err)
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary local error, try again later"}
}

// maxSessionErrors is how many MAIL and RCPT refusals (and refused
// messages) an MX session may collect without delivering a message, on
// top of the recipients accepted in the current transaction; the next
// MAIL or RCPT refusal becomes errTooManyErrors and the connection is
// closed. Postfix's smtpd_hard_error_limit is 20 too. Each RCPT costs a
// database lookup and tells whether an address exists: without a bound, a
// client could probe addresses for as long as it likes. The accepted
// recipients lift it, so that a real sender's transaction with many
// recipients, a good share of them unknown, goes through; a delivered
// message starts the count over. A client cut off after a permanent
// refusal keeps that recipient's 550 and retries the rest later.
const maxSessionErrors = 20

// errTooManyErrors ends a session that passed maxSessionErrors (RFC 5321
// 3.8: a server may close with 421; RFC 3463 X.7.0: a security reason).
var errTooManyErrors = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many errors, closing connection"}
