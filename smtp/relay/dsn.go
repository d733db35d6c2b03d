package relay

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"pillarbox/mailbox"
)

// Delivery status notifications (RFC 3464) in a multipart/report (RFC
// 6522): a human-readable part, the machine-readable
// message/delivery-status part, and the original message: its header
// (text/rfc822-headers), or all of it (message/rfc822) in a failure
// notice for a message sent with RET=FULL (RFC 3461 4.3).

// Actions of RFC 3464 section 2.3.3 that Pillarbox reports.
const (
	actionFailed    = "failed"
	actionDelayed   = "delayed"
	actionDelivered = "delivered" // stored in a local mailbox
	// actionRelayed: handed to a next hop that does not offer DSN, so
	// that no further notice can be asked for (RFC 3461 5.2.2).
	actionRelayed = "relayed"
	// actionExpanded: delivered to a local alias that fans out to
	// several mailboxes (RFC 3461 5.2.7.3).
	actionExpanded = "expanded"
)

// dsnRecipient is one recipient's block of a notice.
type dsnRecipient struct {
	Recipient string
	// ORcpt is the recipient's ORCPT parameter as "type;address" (RFC
	// 3461 4.2), reported as Original-Recipient; "" when not given.
	ORcpt       string
	Action      string
	Reply       reply
	LastAttempt time.Time
	RetryUntil  time.Time // delayed only
	// Expired, when set, says that the recipient failed because it was
	// deferred for too long.
	Expired string
}

// status is the RFC 3463 code for the block: the remote's enhanced code
// when it sent one, else one derived from its reply code.
func (d dsnRecipient) status() string {
	success := d.Action == actionDelivered || d.Action == actionRelayed || d.Action == actionExpanded
	switch {
	case success && (d.Reply.status == "" || d.Reply.status[0] != '2'):
		return "2.0.0"
	case d.Reply.status != "":
		return d.Reply.status
	case d.Reply.code >= 400:
		return fmt.Sprintf("%d.0.0", d.Reply.code/100)
	case d.Action == actionDelayed || d.Reply.isTemporary():
		return "4.0.0"
	}
	return "5.0.0"
}

// dsn is one notice to the sender of one message.
type dsn struct {
	Hostname   string // the reporting MTA
	FromDomain string // the domain of its MAILER-DAEMON From; Hostname when empty
	To         string // the original envelope sender
	Arrival    time.Time
	Date       time.Time
	// EnvID is the message's ENVID (RFC 3461 4.4), reported as
	// Original-Envelope-Id; "" when not given.
	EnvID string
	// Original is the original message: its header is included, or all
	// of it when Full is set and the notice reports a failure (RFC 3461
	// 4.3: RET applies to failure notices).
	Original   []byte
	Full       bool
	Recipients []dsnRecipient
}

// kind sums up a notice's recipients for its subject and text: "failed"
// if any failed, else "delayed" if any is delayed, else "delivered".
func (d *dsn) kind() string {
	k := actionDelivered
	for _, r := range d.Recipients {
		switch r.Action {
		case actionFailed:
			return actionFailed
		case actionDelayed:
			k = actionDelayed
		}
	}
	return k
}

// build renders the notice. It is sent with a null envelope sender.
func (d *dsn) build() []byte {
	kind := d.kind()
	subject := map[string]string{
		actionFailed:    "Undelivered Mail Returned to Sender",
		actionDelayed:   "Delayed Mail (still being retried)",
		actionDelivered: "Successful Mail Delivery Report",
	}[kind]
	full := d.Full && kind == actionFailed
	boundary := randomToken(12) + "/" + d.Hostname
	header := mailbox.HeaderOf(d.Original)
	var origID string
	if m := parseHeaderValue(header, "message-id"); m != "" {
		origID = m
	}

	var b bytes.Buffer
	from := d.FromDomain
	if from == "" {
		from = d.Hostname
	}
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", from)
	fmt.Fprintf(&b, "To: <%s>\r\n", d.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", d.Date.Format(dateLayout))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", randomToken(10), d.Hostname)
	if origID != "" {
		fmt.Fprintf(&b, "References: %s\r\n", origID)
	}
	// RFC 3834 section 5: not to be answered by auto-responders.
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", boundary)
	b.WriteString("\r\nThis is a MIME-encapsulated delivery status notification.\r\n")

	// The human-readable part.
	text := d.humanText(kind, full)
	fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
	b.WriteString("Content-Description: Notification\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	if isASCII(text) {
		b.WriteString("Content-Transfer-Encoding: 7bit\r\n\r\n")
	} else {
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
	}
	b.WriteString(text)

	// The machine-readable part (RFC 3464 section 2).
	fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
	b.WriteString("Content-Description: Delivery report\r\n")
	b.WriteString("Content-Type: message/delivery-status\r\n\r\n")
	if d.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", oneLine(d.EnvID))
	}
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", d.Hostname)
	if !d.Arrival.IsZero() {
		fmt.Fprintf(&b, "Arrival-Date: %s\r\n", d.Arrival.Format(dateLayout))
	}
	for _, r := range d.Recipients {
		b.WriteString("\r\n")
		if r.ORcpt != "" {
			// RFC 3464 2.3.1: the ORCPT value, as given.
			typ, addr, _ := strings.Cut(r.ORcpt, ";")
			fmt.Fprintf(&b, "Original-Recipient: %s\r\n", reportAddress(typ, oneLine(addr)))
		}
		fmt.Fprintf(&b, "Final-Recipient: %s\r\n", reportAddress("rfc822", r.Recipient))
		fmt.Fprintf(&b, "Action: %s\r\n", r.Action)
		fmt.Fprintf(&b, "Status: %s\r\n", r.status())
		if r.Reply.remote != "" {
			fmt.Fprintf(&b, "Remote-MTA: dns; %s\r\n", r.Reply.remote)
		}
		if r.Reply.code != 0 {
			fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", oneLine(r.Reply.String()))
		}
		if !r.LastAttempt.IsZero() {
			fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", r.LastAttempt.Format(dateLayout))
		}
		if r.Action == actionDelayed && !r.RetryUntil.IsZero() {
			fmt.Fprintf(&b, "Will-Retry-Until: %s\r\n", r.RetryUntil.Format(dateLayout))
		}
	}

	// The original message, or its header (RFC 6522 section 3 allows the
	// header alone).
	fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
	what := "Undelivered message"
	if kind == actionDelivered {
		what = "Delivered message"
	}
	if full {
		fmt.Fprintf(&b, "Content-Description: %s\r\n", what)
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
		b.Write(crlfLines(d.Original))
		if !bytes.HasSuffix(d.Original, []byte("\n")) {
			b.WriteString("\r\n")
		}
	} else {
		fmt.Fprintf(&b, "Content-Description: %s header\r\n", what)
		b.WriteString("Content-Type: text/rfc822-headers\r\n\r\n")
		b.Write(bytes.TrimRight(header, "\r\n"))
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

func (d *dsn) humanText(kind string, full bool) string {
	var t strings.Builder
	fmt.Fprintf(&t, "This is the mail system at host %s.\r\n\r\n", d.Hostname)
	switch kind {
	case actionFailed:
		t.WriteString("Your message could not be delivered to one or more recipients.\r\n")
		if full {
			t.WriteString("It is attached below.\r\n")
		} else {
			t.WriteString("Its header is attached below.\r\n")
		}
	case actionDelivered:
		t.WriteString("Your message reached the recipients below, as you asked to be told.\r\n")
		t.WriteString("Where it was passed on to a system that does not report on delivery,\r\n")
		t.WriteString("this is the last news of it.\r\n")
	default:
		t.WriteString("Your message has not been delivered yet to one or more recipients.\r\n")
		var until time.Time
		for _, r := range d.Recipients {
			if r.RetryUntil.After(until) {
				until = r.RetryUntil
			}
		}
		fmt.Fprintf(&t, "The mail system will keep trying until %s;\r\nyou do not need to send it again.\r\n",
			until.Format(dateLayout))
	}
	t.WriteString("\r\n")
	for _, r := range d.Recipients {
		fmt.Fprintf(&t, "<%s>: %s\r\n", r.Recipient, r.reason())
	}
	return t.String()
}

// reason is the human-readable explanation of a recipient's block.
func (d dsnRecipient) reason() string {
	if d.Expired != "" {
		last := dsnRecipient{Reply: d.Reply}.reason()
		return d.Expired + "; the last attempt: " + last
	}
	switch d.Action {
	case actionDelivered:
		return "delivered to the mailbox"
	case actionExpanded:
		return "delivered to each of the mailboxes this address stands for"
	case actionRelayed:
		return fmt.Sprintf("passed on to %s, which does not report on delivery", d.Reply.remote)
	}
	switch {
	case d.Reply.code != 0 && d.Reply.remote != "":
		return fmt.Sprintf("host %s said: %s", d.Reply.remote, oneLine(d.Reply.String()))
	case d.Reply.text != "":
		return oneLine(d.Reply.text)
	}
	return "unknown error"
}

// dateLayout is RFC 5322 section 3.3's date-time.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// reportAddress writes a typed address for a message/delivery-status
// field, which is ASCII: an address with non-ASCII characters is of type
// utf-8 and has them as \x{HEX} (RFC 6533 3, utf-8-addr-xtext).
func reportAddress(typ, addr string) string {
	if isASCII(addr) {
		if strings.EqualFold(typ, "rfc822") {
			return "rfc822; " + addr
		}
		return strings.ToLower(typ) + ";" + addr
	}
	var b strings.Builder
	for _, r := range addr {
		if r < 0x80 {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\x{%X}", r)
		}
	}
	return "utf-8; " + b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// parseHeaderValue returns the unfolded value of the first field with the
// given lower-case name in a header block, with RFC 2047 words left as
// they are.
func parseHeaderValue(header []byte, name string) string {
	lines := strings.Split(strings.ReplaceAll(string(header), "\r\n", "\n"), "\n")
	for i, l := range lines {
		f, v, ok := strings.Cut(l, ":")
		if !ok || l == "" || l[0] == ' ' || l[0] == '\t' || !strings.EqualFold(strings.TrimSpace(f), name) {
			continue
		}
		for _, c := range lines[i+1:] {
			if c == "" || (c[0] != ' ' && c[0] != '\t') {
				break
			}
			v += " " + strings.TrimSpace(c)
		}
		return strings.TrimSpace(v)
	}
	return ""
}
