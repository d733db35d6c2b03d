package smtp

import (
	"context"
	"strings"
	"unicode"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// The envelope extensions both listeners offer: DSN (RFC 3461), whose
// parameters go with each queued recipient and decide Pillarbox's own
// notices, and REQUIRETLS (RFC 8689), offered and accepted over TLS only.
// go-smtp parses and checks the parameters (xtext, NOTIFY's
// combinations, RET's values); what it leaves is checked here.

// Notices builds the "delivered" notices that NOTIFY=SUCCESS asks for
// on local delivery (RFC 3461 5.2.3), and is told when one was queued for
// a remote sender. The relay's Runner is one.
type Notices interface {
	DeliveredNotice(ctx context.Context, r mailbox.SuccessReport) *mailbox.Notice
	Kick()
}

// Lengths RFC 3461 sets: ENVID at most 100 characters (4.4), ORCPT's
// address at most 500 (4.2).
const (
	maxEnvID = 100
	maxORcpt = 500
)

var (
	errParamTooLong = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 4}, Message: "ENVID or ORCPT too long (RFC 3461)"}
	errParamControl = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 4}, Message: "ORCPT holds a control character"}
	// RFC 8689 4.1: REQUIRETLS is offered after STARTTLS only; 5.7.10 is
	// "Encryption needed" (RFC 5248).
	errRequireTLSNeedsTLS = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 10},
		Message: "REQUIRETLS needs a TLS session: STARTTLS first"}
)

// enableEnvelopeExtensions makes go-smtp offer DSN, and REQUIRETLS on
// TLS sessions.
func enableEnvelopeExtensions(srv *gosmtp.Server) {
	srv.EnableDSN = true
	srv.EnableREQUIRETLS = true
}

// mailParams returns the MAIL command's parameters that are kept with
// the message.
func mailParams(c *gosmtp.Conn, opts *gosmtp.MailOptions) (mailbox.QueueParams, error) {
	var p mailbox.QueueParams
	if opts == nil {
		return p, nil
	}
	if len(opts.EnvelopeID) > maxEnvID {
		return p, errParamTooLong
	}
	if opts.RequireTLS {
		// go-smtp offers REQUIRETLS only over TLS, but takes the
		// parameter without.
		if _, ok := c.TLSConnectionState(); !ok {
			return p, errRequireTLSNeedsTLS
		}
	}
	p.Ret, p.EnvID, p.RequireTLS = string(opts.Return), opts.EnvelopeID, opts.RequireTLS
	return p, nil
}

// rcptParams adds a RCPT command's parameters to the MAIL command's.
func rcptParams(mail mailbox.QueueParams, opts *gosmtp.RcptOptions) (mailbox.QueueParams, error) {
	p := mail
	if opts == nil {
		return p, nil
	}
	if len(opts.OriginalRecipient) > maxORcpt {
		return p, errParamTooLong
	}
	if strings.ContainsFunc(opts.OriginalRecipient, unicode.IsControl) {
		// go-smtp decodes utf-8-addr escapes to any character; a control
		// character has no place in an address or a notice's header.
		return p, errParamControl
	}
	n := make([]string, len(opts.Notify))
	for i, v := range opts.Notify {
		n[i] = string(v)
	}
	p.Notify = strings.Join(n, ",")
	if opts.OriginalRecipient != "" {
		// Kept as the Original-Recipient field writes it (RFC 3464
		// 2.3.1): "rfc822;addr" or "utf-8;addr" (RFC 6533).
		p.ORcpt = strings.ToLower(string(opts.OriginalRecipientType)) + ";" + opts.OriginalRecipient
	}
	return p, nil
}

// wantsSuccess reports whether NOTIFY asked for a notice on success.
func wantsSuccess(p mailbox.QueueParams) bool {
	for _, v := range strings.Split(p.Notify, ",") {
		if v == string(gosmtp.DSNNotifySuccess) {
			return true
		}
	}
	return false
}

// wantsAnySuccess says whether a recipient asked for a success notice.
func wantsAnySuccess(params []mailbox.QueueParams) bool {
	for _, p := range params {
		if wantsSuccess(p) {
			return true
		}
	}
	return false
}

// successNotice returns the notice for the locally delivered recipients
// that asked for one, or nil: none asked, the sender is null (RFC 5321
// 4.5.5: never a notice about a notice), or there is no Notices.
func (srv *Server) successNotice(from string, acct int64, mail mailbox.QueueParams, rcpts []mailbox.Recipient, params []mailbox.QueueParams, data []byte) *mailbox.Notice {
	if from == "" || srv.opts.Notices == nil {
		return nil
	}
	rep := mailbox.SuccessReport{Sender: from, AccountID: acct, EnvID: mail.EnvID, Arrival: srv.opts.Now(),
		Original: data, RequireTLS: mail.RequireTLS}
	for i, r := range rcpts {
		if wantsSuccess(params[i]) {
			rep.Recipients = append(rep.Recipients, mailbox.SuccessRecipient{Address: r.Address.String(), ORcpt: params[i].ORcpt,
				Expanded: len(r.Accounts) > 1})
		}
	}
	if len(rep.Recipients) == 0 {
		return nil
	}
	return srv.opts.Notices.DeliveredNotice(context.Background(), rep)
}
