package relay

import (
	"context"

	"pillarbox/mailbox"
)

// DeliveredNotice renders the notice that NOTIFY=SUCCESS asks for when a
// message was delivered to local mailboxes (RFC 3461 5.2.3; Postfix sends
// one too): Action "delivered" per recipient, from MAILER-DAEMON as the
// relay's other notices. A remote sender's copy is queued with the null
// sender by whoever delivers it, and the relay signs it on its way out.
func (r *Runner) DeliveredNotice(ctx context.Context, rep mailbox.SuccessReport) *mailbox.Notice {
	now := r.opts.Clock.Now()
	d := &dsn{Hostname: r.opts.Hostname, FromDomain: r.noticeDomain(ctx), To: rep.Sender, Arrival: rep.Arrival, Date: now,
		EnvID: rep.EnvID, Original: rep.Original}
	for _, rc := range rep.Recipients {
		action := actionDelivered
		if rc.Expanded {
			action = actionExpanded
		}
		d.Recipients = append(d.Recipients, dsnRecipient{Recipient: rc.Address, ORcpt: rc.ORcpt, Action: action})
	}
	return &mailbox.Notice{To: rep.Sender, AccountID: rep.AccountID, Data: d.build(), RequireTLS: rep.RequireTLS}
}
