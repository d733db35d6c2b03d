package mailbox

import (
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message"
	// Registers go-message's charset decoders (message.CharsetReader), used
	// for RFC 2047 words and for text bodies in other charsets than UTF-8.
	_ "github.com/emersion/go-message/charset"

	"pillarbox/store"
)

// EnvAddress is one entry of an ENVELOPE address list. A group is
// represented as IMAP does (RFC 3501 section 7.4.2): start {Mailbox: group
// name, Host: ""}, end: all empty. An address without a domain gets the Host
// ".MISSING-HOST-NAME.", as other IMAP servers do, so that it cannot be taken
// for a group marker.
//
// Route is the obsolete source route of an angle address (RFC 5322 section
// 4.4, obs-route; the ENVELOPE's addr-adl, RFC 9051 section 7.5.2):
// "<@relay1, @relay2:user@example.org>" has Route "@relay1,@relay2", the
// domains joined by commas without white space, comments or the final
// colon, as Dovecot sends it. Empty for nearly every address. go-imap's
// imap.Address has no field for it, so the imapserver-based session sends
// NIL; imap/wire's Address writer has one.
type EnvAddress struct {
	Name    string `json:"n,omitempty"` // decoded (RFC 2047) UTF-8
	Route   string `json:"rt,omitempty"`
	Mailbox string `json:"m,omitempty"`
	Host    string `json:"h,omitempty"`
}

// Envelope mirrors the IMAP ENVELOPE (RFC 3501 section 7.4.2) of a message.
type Envelope struct {
	Date    time.Time `json:"d,omitzero"`
	Subject string    `json:"s,omitempty"` // decoded (RFC 2047) UTF-8
	// Sender and ReplyTo are copies of From when their field is absent or
	// empty, as RFC 3501 says.
	From    []EnvAddress `json:"f,omitempty"`
	Sender  []EnvAddress `json:"se,omitempty"`
	ReplyTo []EnvAddress `json:"r,omitempty"`
	To      []EnvAddress `json:"t,omitempty"`
	Cc      []EnvAddress `json:"c,omitempty"`
	Bcc     []EnvAddress `json:"b,omitempty"`
	// InReplyTo and MessageID hold message ids without the angle brackets,
	// as go-imap expects them.
	InReplyTo []string `json:"i,omitempty"`
	MessageID string   `json:"id,omitempty"`
}

// Part is one node of the MIME tree (BODYSTRUCTURE, RFC 3501 section 7.4.2)
// with byte offsets into the raw message.
//
// The values are what a BODYSTRUCTURE shows: Type and Subtype in lower case,
// ID, Description, MD5 and Location as written in the header (not decoded),
// Encoding in upper case. A part whose type is multipart always has at least
// one child, and a part of type message/rfc822 or message/global always has
// Envelope and Message; when that cannot be (no boundary found, limits
// reached, an encoded message/rfc822), the part is shown as a leaf of
// another type: text/plain when it was broken, so that its text stays
// readable, and application/octet-stream when a limit was reached or the
// enclosed message is encoded.
type Part struct {
	// Type and Subtype default to text/plain with charset us-ascii (RFC 2045
	// section 5.2), and to message/rfc822 for the children of a
	// multipart/digest (RFC 2046 section 5.1.5).
	Type    string `json:"t"`
	Subtype string `json:"st"`
	// Params are the Content-Type parameters with lower-case keys and
	// decoded values (RFC 2231, and RFC 2047 words that some senders use).
	Params      map[string]string `json:"p,omitempty"`
	ID          string            `json:"id,omitempty"`
	Description string            `json:"de,omitempty"`
	Encoding    string            `json:"e,omitempty"` // default 7BIT
	MD5         string            `json:"md5,omitempty"`
	// Disposition is the lower-case Content-Disposition value.
	Disposition       string            `json:"di,omitempty"`
	DispositionParams map[string]string `json:"dp,omitempty"`
	Language          []string          `json:"la,omitempty"`
	Location          string            `json:"lo,omitempty"`
	// Size is the size of the encoded body in octets (End-BodyStart).
	Size int64 `json:"sz,omitempty"`
	// Lines counts the LF characters of the body, for text/* and
	// message/rfc822 parts.
	Lines    int64   `json:"ln,omitempty"`
	Children []*Part `json:"c,omitempty"` // multipart only
	// Envelope and Message are set for message/rfc822 (and message/global)
	// parts only: Message is the structure of the enclosed message, and
	// covers this part's body.
	Envelope *Envelope `json:"env,omitempty"`
	Message  *Part     `json:"m,omitempty"`
	// The header block is raw[HeaderStart:BodyStart], including the blank
	// line that ends it, and the body is raw[BodyStart:End]. The CRLF before
	// a boundary line belongs to the boundary (RFC 2046 section 5.1.1), not
	// to the part.
	HeaderStart int64 `json:"hs,omitempty"`
	BodyStart   int64 `json:"bs,omitempty"`
	End         int64 `json:"en,omitempty"`
}

// IsMultipart reports whether p is a multipart, with children.
func (p *Part) IsMultipart() bool {
	return p.Type == "multipart"
}

// Find returns the part that the IMAP section path addresses (RFC 3501
// section 6.4.5) when p is the structure of a message, or nil if there is
// none. An empty path gives p itself. Part 1 of a message that is not
// multipart is its body, which Find gives as the same Part. Below a
// message/rfc822 part, numbers address the parts of the enclosed message;
// for path [2, 1] with part 2 an enclosed message that is not multipart,
// Find returns part 2's Message.
//
// For the returned part q, BODY[path] is raw[q.BodyStart:q.End] and
// BODY[path.MIME] is raw[q.HeaderStart:q.BodyStart]; BODY[path.HEADER] and
// BODY[path.TEXT] are those of q.Message, for a message/rfc822 part.
func (p *Part) Find(path []int) *Part {
	if len(path) == 0 {
		return p
	}
	cur := p
	if !cur.IsMultipart() {
		if path[0] != 1 {
			return nil
		}
		path = path[1:]
	}
	for _, n := range path {
		cur = cur.subpart(n)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// subpart returns part n (counting from 1) of an entity below the top level.
func (p *Part) subpart(n int) *Part {
	switch {
	case p.IsMultipart():
		if n < 1 || n > len(p.Children) {
			return nil
		}
		return p.Children[n-1]
	case p.Message != nil:
		if p.Message.IsMultipart() {
			return p.Message.subpart(n)
		}
		if n == 1 {
			return p.Message
		}
	}
	return nil
}

// Meta is what delivery computes once for a message so that IMAP can answer
// without parsing it again.
type Meta struct {
	Envelope  Envelope `json:"env"`
	Structure *Part    `json:"st"`
	// HeaderText holds the fields of the top-level header as "Name: value\n"
	// lines, unfolded, with RFC 2047 words decoded, in UTF-8.
	HeaderText string `json:"ht,omitempty"`
	// BodyText holds the decoded text of every text/* leaf, converted to
	// UTF-8, and the From, To, Cc and Subject of enclosed messages, for
	// SEARCH BODY and TEXT. HTML is reduced to its text: tags, comments,
	// scripts and style sheets are dropped and character references decoded.
	// Octets that are not valid in the declared charset (or in UTF-8, when
	// there is none) are taken as ISO-8859-1.
	BodyText string `json:"bt,omitempty"`
	// PartText holds the header fields of every part below the top level,
	// enclosed messages' headers included, as "Name: value\n" lines like
	// HeaderText: SEARCH TEXT reads them, BODY and HEADER do not.
	PartText string `json:"pt,omitempty"`
	// Truncated is set when a limit cut the analysis short: the structure
	// below some part, header fields, addresses or text are missing.
	Truncated bool `json:"tr,omitempty"`
}

// Limits bound the work Analyze does on one message. A zero or negative
// field means its default.
type Limits struct {
	MaxDepth       int // nesting of multiparts and enclosed messages; default 32
	MaxParts       int // parts in the whole tree; default 1000
	MaxHeaderBytes int // octets of one header block parsed, of HeaderText, and of PartText; default 1 MiB
	MaxTextBytes   int // octets of BodyText; default 1 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 1000
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 1 << 20
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = 1 << 20
	}
	return l
}

// Analyze parses a raw message once and returns its envelope, its MIME
// structure with offsets and its text for searching. It never fails: broken
// MIME gives a best-effort structure, with a part that cannot be parsed shown
// as a leaf that covers its octets. The offsets always satisfy
// 0 <= HeaderStart <= BodyStart <= End <= len(raw), and children lie within
// the body of their parent. Analyze keeps no reference to raw.
func Analyze(raw []byte, lim Limits) *Meta {
	a := &analyzer{
		raw: raw,
		lim: lim.withDefaults(),
		dec: mime.WordDecoder{CharsetReader: message.CharsetReader},
	}
	root, fields := a.parsePart(0, len(raw), 0, partRoot)
	m := &Meta{
		Envelope:   a.envelope(fields),
		Structure:  root,
		HeaderText: a.headerText(fields),
		BodyText:   a.text.String(),
		PartText:   string(a.partText),
	}
	m.Truncated = a.truncated
	return m
}

// SearchText returns the HeaderText, BodyText and PartText that Analyze
// gives for raw, the last two only when withBody is set (the header alone
// costs a scan of the header block). The store calls it to check SEARCH's
// candidates against the stored message and to remove a message's words
// from the full-text index, so that no second copy of the text is kept
// (see store.Store.SetSearchText); it must give exactly what delivery stored.
func SearchText(raw []byte, lim Limits, withBody bool) store.MessageText {
	a := &analyzer{
		raw: raw,
		lim: lim.withDefaults(),
		dec: mime.WordDecoder{CharsetReader: message.CharsetReader},
	}
	if !withBody {
		_, fields := a.scanHeader(0, len(raw))
		return store.MessageText{Header: a.headerText(fields)}
	}
	_, fields := a.parsePart(0, len(raw), 0, partRoot)
	return store.MessageText{Header: a.headerText(fields), Body: a.text.String(), Parts: string(a.partText)}
}

// TextFunc is the search text function of messages analysed with
// limits lim (SearchText), which the store derives the text with.
func TextFunc(lim Limits) store.SearchTextFunc {
	return func(raw []byte, withBody bool) store.MessageText { return SearchText(raw, lim, withBody) }
}

// analyzer holds the state of one Analyze call.
type analyzer struct {
	raw          []byte
	lim          Limits
	dec          mime.WordDecoder
	parts        int             // parts created so far
	text         strings.Builder // BodyText so far
	partText     []byte          // PartText so far
	lastTextByte byte            // of text
	truncated    bool
}
