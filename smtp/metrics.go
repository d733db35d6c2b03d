package smtp

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// Metrics receives what a server counts, for monitoring (Options.Metrics).
// Its methods are called on the sessions' goroutines: they must be quick
// and safe for concurrent use.
type Metrics interface {
	// Received counts a message accepted with 250 after DATA (for
	// submission: a message submitted).
	Received()
	// Refused counts a MAIL, RCPT, DATA or AUTH command refused, by why.
	Refused(Refusal)
	// Login counts a submission login attempt by how it ended.
	Login(mailbox.LoginOutcome)
}

// Refusal is why a command was refused: one of a small fixed set, so
// that it can be a metric's label, never the client's text. go-smtp
// answers some commands itself without the session seeing them: its
// size and recipient limits are counted from the wire (wire.go), when
// it can be reached; a command it cannot parse is not counted.
type Refusal uint8

// The reasons of refusals. RefusalCount is how many there are.
const (
	RefusedOther         Refusal = iota // anything below
	RefusedRcptUnknown                  // 550 5.1.1: no such local user
	RefusedRelayDenied                  // 554 5.7.1: a recipient that is not local, on the MX
	RefusedDMARC                        // 550 5.7.1: the From domain's DMARC policy rejects it
	RefusedLocalSpoof                   // 550 5.7.1: claims a local domain without SPF or DKIM for it
	RefusedSize                         // 552: over the size limit
	RefusedRate                         // over a rate limit
	RefusedAuthRequired                 // 530 5.7.0, or AUTH without TLS (538)
	RefusedTooManyRcpts                 // 452 4.5.3: over MaxRecipients
	RefusedSender                       // submission: a sender the account does not own, or <>
	RefusedSyntax                       // 5xx for a malformed or out-of-sequence command
	RefusedTemporary                    // 4xx: a local error, storage full, shutting down
	RefusedQuota                        // 452 4.2.2 / 552 5.2.2: a recipient's mailbox quota
	RefusedTooManyErrors                // 421 4.7.0: too many refusals without delivering mail
	RefusalCount
)

var refusalNames = [RefusalCount]string{"other", "rcpt_unknown", "relay_denied", "dmarc", "local_spoof", "size", "rate",
	"auth_required", "too_many_rcpts", "sender", "syntax", "temporary", "quota", "too_many_errors"}

// String is the reason's label value.
func (r Refusal) String() string {
	if r >= RefusalCount {
		return refusalNames[RefusedOther]
	}
	return refusalNames[r]
}

// Replies that tell their reason by identity. They are bare
// *gosmtp.SMTPError values, as go-smtp needs.
var (
	errNoSuchUser   = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errRelayDenied  = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	errRcptTempFail = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary local error, try again later"}
)

// reasoned is a refusal whose reason its reply does not tell, such as
// the 550 5.7.1 of a DMARC rejection and of a local spoof. Server.refused
// counts it and hands go-smtp the bare reply.
type reasoned struct {
	*gosmtp.SMTPError
	why Refusal
}

func (r *reasoned) Unwrap() error { return r.SMTPError }

// refusalOf tells why err refused a command.
func refusalOf(err error) Refusal {
	if r, ok := err.(*reasoned); ok {
		return r.why
	}
	switch err {
	case errNoSuchUser:
		return RefusedRcptUnknown
	case errRelayDenied:
		return RefusedRelayDenied
	case errAuthRequired, errEncryptionRequired:
		return RefusedAuthRequired
	case errNotOwner, errNullSender:
		return RefusedSender
	case errMessageRate:
		return RefusedRate
	case errMailboxFull, errQuotaTooBig:
		return RefusedQuota
	case errTooManyErrors:
		return RefusedTooManyErrors
	}
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		return RefusedOther
	}
	switch {
	case se.Code == 552 || se.EnhancedCode == gosmtp.EnhancedCode{5, 3, 4}:
		return RefusedSize
	case se.Code >= 400 && se.Code < 500:
		return RefusedTemporary
	case se.Code == 500 || se.Code == 501 || se.Code == 503 || se.Code == 504 || se.Code == 553:
		return RefusedSyntax
	}
	return RefusedOther
}

// nopMetrics counts nothing: the default, so that callers need no nil
// check.
type nopMetrics struct{}

func (nopMetrics) Received()                  {}
func (nopMetrics) Refused(Refusal)            {}
func (nopMetrics) Login(mailbox.LoginOutcome) {}
