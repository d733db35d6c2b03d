package imap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"pillarbox/imap/wire"
	"pillarbox/mailbox"
)

// catenate reads the parts of a CATENATE message (RFC 4469) and returns
// the message they make: TEXT parts as sent, URL parts as the octets of
// the message or section they name in this account. The message is
// bounded by limit (APPENDLIMIT): past it, NO [TOOBIG]. A URL that does
// not name a message the account can read is NO [BADURL url] (both codes
// are RFC 4469's), and the rest of the command is skipped.
func (s *session) catenate(ctx context.Context, limit int64) ([]byte, error) {
	var msg []byte
	for {
		part, err := s.r.NextCatPart()
		if err != nil {
			return nil, s.readErr(err)
		}
		if part == nil {
			return msg, nil
		}
		if part.Text != nil {
			if int64(len(msg))+part.Text.Size > limit {
				return nil, catTooBig(limit)
			}
			s.literalDeadline(part.Text.Size)
			b, err := readLiteral(part.Text)
			if err != nil {
				return nil, s.readErr(err)
			}
			msg = append(msg, b...)
			continue
		}
		b, err := s.urlData(ctx, part.URL, limit-int64(len(msg)))
		if err != nil {
			return nil, err
		}
		msg = append(msg, b...)
	}
}

func catTooBig(limit int64) error {
	return no(imap.ResponseCodeTooBig, fmt.Sprintf("Catenated message larger than the limit of %d octets", limit))
}

// urlData returns the octets a CATENATE URL part names, as FETCH
// BODY.PEEK[section]<partial> would return them (RFC 5092), at
// most room of them.
func (s *session) urlData(ctx context.Context, raw string, room int64) ([]byte, error) {
	u, ok := parseCatURL(raw, s.account.Address)
	if !ok {
		return nil, badURL(raw, "Invalid or unsupported IMAP URL")
	}
	name := u.mailbox
	if name == "" {
		// ";UID=n" is relative to the selected mailbox.
		if s.view == nil {
			return nil, badURL(raw, "No mailbox selected for a relative URL")
		}
		name = s.view.folder.Name
	}
	f, err := s.srv.svc.Folder(ctx, s.account.ID, name)
	if errors.Is(err, mailbox.ErrNoSuchFolder) || errors.Is(err, mailbox.ErrBadFolderName) {
		return nil, badURL(raw, "No such mailbox")
	}
	if err != nil {
		return nil, s.fail("catenate", err)
	}
	if u.uidValidity != 0 && u.uidValidity != f.UIDValidity {
		return nil, badURL(raw, "UIDVALIDITY has changed")
	}
	var msg *mailbox.Message
	err = s.srv.svc.ReadMailbox(ctx, f.ID, nil, func(r *mailbox.Reader) error {
		rows, err := r.Messages(u.uid, u.uid, 1, 1, mailbox.WantStructure)
		if len(rows) == 1 {
			msg = &rows[0]
		}
		return err
	})
	if errors.Is(err, mailbox.ErrNoSuchFolder) {
		return nil, badURL(raw, "No such mailbox")
	}
	if err != nil {
		return nil, s.fail("catenate", err)
	}
	if msg == nil {
		return nil, badURL(raw, "No such message")
	}
	bs := &imap.FetchItemBodySection{Peek: true}
	if u.section != "" {
		if bs = parseURLSection(u.section); bs == nil {
			return nil, badURL(raw, "Invalid section")
		}
		// A part that does not exist is empty in FETCH, but names
		// nothing here.
		if len(bs.Part) > 0 {
			p := msg.Structure.Find(bs.Part)
			if p == nil || p.Message == nil && (bs.Specifier == imap.PartSpecifierHeader || bs.Specifier == imap.PartSpecifierText) {
				return nil, badURL(raw, "No such section")
			}
		}
	}
	if u.partial != nil {
		p := *u.partial
		if p.Size == 0 {
			p.Size = msg.Size // to the end
		}
		bs.Partial = &p
	}
	if u.section == "" && u.partial == nil && msg.Size > room {
		return nil, catTooBig(s.srv.opts.AppendLimit)
	}
	src := &source{svc: s.srv.svc, ctx: ctx, msg: msg}
	b, err := src.bodySection(bs)
	if errors.Is(err, mailbox.ErrNoSuchMessage) {
		return nil, badURL(raw, "No such message")
	}
	if err != nil {
		return nil, s.fail("catenate", err)
	}
	if int64(len(b)) > room {
		return nil, catTooBig(s.srv.opts.AppendLimit)
	}
	return b, nil
}

// catURL is what a CATENATE URL names: a message by UID in a mailbox of
// the account ("" for the selected one), and a section and range of it.
type catURL struct {
	mailbox     string
	uidValidity uint32 // 0 when not given
	uid         uint32
	section     string // decoded; "" for the whole message
	partial     *imap.SectionPartial
}

// parseCatURL parses an IMAP URL naming a message or a part of one (RFC
// 5092 imessagepart): absolute ("imap://user@host/INBOX/;UID=3"), or
// relative to the session's server ("/INBOX;UIDVALIDITY=5/;UID=3/;
// SECTION=1.2", also without the leading "/"), or relative to the
// selected mailbox (";UID=3/;SECTION=TEXT", RFC 5092's relative form with
// the selected mailbox as its base; BADURL with none selected). An absolute
// URL must name user, if it names a user. The host is not checked: a URL
// can only reach the logged-in account's mailboxes. URLs with URLAUTH or
// EXPIRE (RFC 4467), and message lists (a search), are not accepted.
func parseCatURL(raw, user string) (catURL, bool) {
	var u catURL
	p := raw
	if len(p) >= 5 && strings.EqualFold(p[:5], "imap:") {
		p = p[5:]
		if !strings.HasPrefix(p, "//") {
			return u, false
		}
	}
	absolute := false
	if rest, ok := strings.CutPrefix(p, "//"); ok {
		authority, path, found := strings.Cut(rest, "/")
		if !found {
			return u, false
		}
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			enc, _, _ := strings.Cut(authority[:at], ";") // ";AUTH=" is not ours to check
			name, err := url.PathUnescape(enc)
			if err != nil || name != "" && !strings.EqualFold(name, user) {
				return u, false
			}
		}
		p, absolute = path, true
	} else if rest, ok := strings.CutPrefix(p, "/"); ok {
		p, absolute = rest, true
	}
	if strings.ContainsAny(p, "?#") {
		return u, false
	}
	semi := strings.IndexByte(p, ';')
	if semi < 0 {
		return u, false
	}
	box, params := p[:semi], strings.Split(p[semi+1:], "/;")
	withValidity := false
	switch {
	case box == "":
		if absolute {
			return u, false
		}
	case strings.HasSuffix(box, "/"):
		box = box[:len(box)-1]
	default:
		withValidity = true // "INBOX;UIDVALIDITY=5/;UID=3"
	}
	if box != "" {
		name, err := url.PathUnescape(box)
		if err != nil || name == "" {
			return u, false
		}
		u.mailbox = name
	}
	next := func(key string) (string, bool) {
		if len(params) == 0 {
			return "", false
		}
		k, v, ok := strings.Cut(params[0], "=")
		if !ok || !strings.EqualFold(k, key) {
			return "", false
		}
		params = params[1:]
		return v, true
	}
	if withValidity {
		v, ok := next("UIDVALIDITY")
		if u.uidValidity, ok = nzNumber(v, ok); !ok {
			return u, false
		}
	}
	v, ok := next("UID")
	if u.uid, ok = nzNumber(v, ok); !ok {
		return u, false
	}
	if v, ok := next("SECTION"); ok {
		sec, err := url.PathUnescape(v)
		if err != nil || sec == "" {
			return u, false
		}
		u.section = sec
	}
	if v, ok := next("PARTIAL"); ok {
		// partial-range = number ["." nz-number]
		off, length, dotted := strings.Cut(v, ".")
		o, err := strconv.ParseUint(off, 10, 32)
		if err != nil || off == "" || off[0] == '+' {
			return u, false
		}
		u.partial = &imap.SectionPartial{Offset: int64(o)}
		if dotted {
			n, ok := nzNumber(length, true)
			if !ok {
				return u, false
			}
			u.partial.Size = int64(n)
		}
	}
	return u, len(params) == 0 // URLAUTH, EXPIRE or junk left
}

// nzNumber parses an nz-number (RFC 9051 section 9) that fits 32 bits.
func nzNumber(v string, ok bool) (uint32, bool) {
	if !ok || v == "" || v[0] < '1' || v[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return uint32(n), err == nil
}

// parseURLSection parses a URL's section (RFC 5092 enc-section, decoded)
// with the FETCH grammar's section-spec, as BODY[section] would take it:
// a FETCH command is made of it and read by the command parser, so that
// the two grammars cannot drift apart. nil if it is not a section alone.
func parseURLSection(sec string) *imap.FetchItemBodySection {
	if strings.ContainsAny(sec, "[]{}<>~\r\n\x00") {
		return nil // would end the brackets or start a literal or range
	}
	r := wire.NewReader(bufio.NewReader(strings.NewReader("u FETCH 1 BODY.PEEK["+sec+"]\r\n")), nil, wire.Options{})
	r.SetAuthenticated(true)
	cmd, err := r.ReadCommand()
	if err != nil {
		return nil
	}
	f, ok := cmd.(*wire.Fetch)
	if !ok || len(f.Options.BodySection) != 1 {
		return nil
	}
	bs := f.Options.BodySection[0]
	if bs.Specifier == imap.PartSpecifierNone && len(bs.Part) == 0 {
		return nil // "" is not a section
	}
	return bs
}

// badURL is the refusal of a CATENATE URL: NO [BADURL url] (RFC 4469
// section 5; the URL bare, not quoted, per erratum 4046). The code may
// not hold ']' or a line end, nor need more than a sane length: those
// octets are %-escaped, and a very long URL is cut.
func badURL(raw, text string) error {
	const maxEcho = 1024
	var b strings.Builder
	b.WriteString("BADURL ")
	for i := 0; i < len(raw) && i < maxEcho; i++ {
		c := raw[i]
		if c <= ' ' || c == ']' || c >= 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	if raw == "" {
		b.WriteString("%20") // url-resp-text is at least one octet
	}
	return no(imap.ResponseCode(b.String()), text)
}
