package relay

import (
	"strings"
	"unicode/utf8"

	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
)

// A group's envelope parameters on the way out: the DSN extension's (RFC
// 3461), passed on when the next hop offers DSN, and REQUIRETLS (RFC
// 8689), which decides whether the next hop may have the message at all.

// envelope is one mail transaction: the sender, the recipients with
// their RCPT parameters, and the MAIL parameters they share.
type envelope struct {
	from  string
	rcpts []string
	opts  []*gosmtp.RcptOptions
	mail  gosmtp.MailOptions // Return, EnvelopeID, RequireTLS
	utf8  bool
}

// groupEnvelope makes a group's transaction. The MAIL parameters come
// from the first item: the items of a group share a message and its MAIL
// command.
func groupEnvelope(g *group) *envelope {
	p := g.items[0].Params
	env := &envelope{from: g.sender(), utf8: !isASCII(g.sender()), mail: gosmtp.MailOptions{
		Return:     gosmtp.DSNReturn(p.Ret),
		RequireTLS: p.RequireTLS,
	}}
	// go-smtp's client refuses a transaction whose parameters it cannot
	// encode, which would read as a broken connection: what it would
	// refuse is left out (the listeners never queue such values).
	if env.mail.Return != gosmtp.DSNReturnFull && env.mail.Return != gosmtp.DSNReturnHeaders {
		env.mail.Return = ""
	}
	if printable(p.EnvID) {
		env.mail.EnvelopeID = p.EnvID
	}
	for _, it := range g.items {
		env.rcpts = append(env.rcpts, it.Recipient)
		env.opts = append(env.opts, rcptOptions(it))
		env.utf8 = env.utf8 || !isASCII(it.Recipient)
	}
	return env
}

// rcptOptions returns the RCPT parameters of an item; go-smtp's client
// sends them only to a server that offers DSN.
func rcptOptions(it mailbox.QueueItem) *gosmtp.RcptOptions {
	o := &gosmtp.RcptOptions{}
	if n := it.Params.Notify; n != "" {
		for _, v := range strings.Split(n, ",") {
			o.Notify = append(o.Notify, gosmtp.DSNNotify(v))
		}
		if !validNotify(o.Notify) {
			o.Notify = nil
		}
	}
	typ, addr, _ := strings.Cut(it.Params.ORcpt, ";")
	switch typ := gosmtp.DSNAddressType(strings.ToUpper(typ)); {
	case typ == gosmtp.DSNAddressTypeRFC822 && addr != "" && printable(addr),
		typ == gosmtp.DSNAddressTypeUTF8 && addr != "" && utf8.ValidString(addr):
		o.OriginalRecipientType, o.OriginalRecipient = typ, addr
	case it.Params.ORcpt != "":
		// One came but cannot be passed on: leave it out rather than put
		// another in its place (RFC 3461 4.2 adds one only where none came).
	case printable(it.Recipient):
		// RFC 3461 4.2: an ORCPT may be added where none came, so that
		// the final notice names the address as it was given here.
		o.OriginalRecipientType, o.OriginalRecipient = gosmtp.DSNAddressTypeRFC822, it.Recipient
	}
	return o
}

// printable reports whether s is printable US-ASCII, as RFC 3461 wants
// ENVID and an rfc822 ORCPT before xtext encoding.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// validNotify reports whether a NOTIFY list is one RFC 3461 4.1 allows:
// NEVER alone, or each of SUCCESS, FAILURE and DELAY at most once.
func validNotify(n []gosmtp.DSNNotify) bool {
	seen := map[gosmtp.DSNNotify]bool{}
	for _, v := range n {
		switch v {
		case gosmtp.DSNNotifyNever, gosmtp.DSNNotifySuccess, gosmtp.DSNNotifyFailure, gosmtp.DSNNotifyDelayed:
		default:
			return false
		}
		if seen[v] {
			return false
		}
		seen[v] = true
	}
	return len(n) > 0 && (!seen[gosmtp.DSNNotifyNever] || len(n) == 1)
}

// notifies reports whether an item's NOTIFY asks for notices of the
// action. Without NOTIFY, failures and delays are reported (RFC 3461
// 4.1 leaves the default to the MTA; FAILURE,DELAY is Pillarbox's).
func notifies(p mailbox.QueueParams, action string) bool {
	if p.Notify == "" {
		return action == actionFailed || action == actionDelayed
	}
	want := map[string]string{actionFailed: "FAILURE", actionDelayed: "DELAY", actionRelayed: "SUCCESS", actionDelivered: "SUCCESS"}[action]
	for _, v := range strings.Split(p.Notify, ",") {
		if v == want {
			return true
		}
	}
	return false
}

// Replies for a REQUIRETLS message that a host may not have (RFC 8689
// 4.2.1, 5): permanent, made here, not by the host.
func requireTLSRefusal(c *conn) (reply, bool) {
	switch {
	case !c.tlsVerified:
		return reply{status: "5.7.10", remote: c.host,
			text: "REQUIRETLS: " + c.host + " was not reached over TLS with a verified certificate (MTA-STS, DANE or a verified smarthost)"}, true
	case !c.offers("REQUIRETLS"):
		return reply{status: "5.7.30", remote: c.host, text: "REQUIRETLS support required: " + c.host + " does not offer it"}, true
	}
	return reply{}, false
}

// offers reports whether the server offered ext in its EHLO reply.
func (c *conn) offers(ext string) bool {
	ok, _ := c.c.Extension(ext)
	return ok
}
