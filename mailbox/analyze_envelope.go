package mailbox

import (
	"bytes"
	"maps"
	netmail "net/mail"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"

	"pillarbox/store"
)

// maxEnvAddresses bounds each ENVELOPE address list, to keep stored rows
// small whatever the header holds.
const maxEnvAddresses = 1000

// missingHost is the Host of an address without a domain: an empty Host
// would mark a group. UW IMAP and Dovecot use the same string.
const missingHost = store.MissingHost

// envelope computes the ENVELOPE of a message from its header fields. Every
// field is parsed leniently: what cannot be parsed is left out.
func (a *analyzer) envelope(fields []field) Envelope {
	var env Envelope
	var seen [numEnvFields]bool
	for _, f := range fields {
		i := envelopeField(f)
		if i < 0 || seen[i] {
			continue
		}
		seen[i] = true
		v := f.unfolded()
		switch i {
		case envDate:
			if t, err := netmail.ParseDate(v); err == nil && t.Year() >= 1 && t.Year() <= 9999 {
				env.Date = t
			}
		case envSubject:
			env.Subject = toUTF8(a.decodeWords(v))
		case envFrom:
			env.From = a.addressList(v)
		case envSender:
			env.Sender = a.addressList(v)
		case envReplyTo:
			env.ReplyTo = a.addressList(v)
		case envTo:
			env.To = a.addressList(v)
		case envCc:
			env.Cc = a.addressList(v)
		case envBcc:
			env.Bcc = a.addressList(v)
		case envInReplyTo:
			env.InReplyTo = msgIDs(v, -1)
		case envMessageID:
			if ids := msgIDs(v, 1); len(ids) > 0 {
				env.MessageID = ids[0]
			} else if v = toUTF8(v); v != "" && !strings.ContainsAny(v, " \t<>") {
				// Some senders leave the angle brackets out.
				env.MessageID = v
			}
		}
	}
	// RFC 3501 section 7.4.2: an absent or empty Sender or Reply-To is
	// given as From.
	if len(env.Sender) == 0 {
		env.Sender = slices.Clone(env.From)
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = slices.Clone(env.From)
	}
	return env
}

// The header fields of an ENVELOPE.
const (
	envDate = iota
	envSubject
	envFrom
	envSender
	envReplyTo
	envTo
	envCc
	envBcc
	envInReplyTo
	envMessageID
	numEnvFields
)

// envelopeField returns which ENVELOPE field f is, or -1 if none.
func envelopeField(f field) int {
	var buf [len("in-reply-to")]byte
	if len(f.name) > len(buf) {
		return -1
	}
	name := buf[:len(f.name)]
	for i, c := range f.name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		name[i] = c
	}
	switch string(name) {
	case "date":
		return envDate
	case "subject":
		return envSubject
	case "from":
		return envFrom
	case "sender":
		return envSender
	case "reply-to":
		return envReplyTo
	case "to":
		return envTo
	case "cc":
		return envCc
	case "bcc":
		return envBcc
	case "in-reply-to":
		return envInReplyTo
	case "message-id":
		return envMessageID
	}
	return -1
}

// addressList parses an address list field (RFC 5322 section 3.4) into
// ENVELOPE entries. The list is split here, so that groups can be shown and
// one broken address does not lose the others; each address is then parsed
// by go-message (net/mail with its charsets), and failing that by hand.
func (a *analyzer) addressList(v string) []EnvAddress {
	var out []EnvAddress
	add := func(e EnvAddress) bool {
		if len(out) >= maxEnvAddresses {
			a.truncated = true
			return false
		}
		out = append(out, e)
		return true
	}
	const (
		noGroup      = iota
		group        // inside a group shown with start and end entries
		unnamedGroup // inside a group without name: members shown alone
	)
	state := noGroup
	start := 0
	angle := false
	var sk skipper
	item := func(end int) {
		if e, ok := a.mailboxAddress(v[start:end]); ok {
			add(e)
		}
	}
	for i := 0; i < len(v); i++ {
		if n := sk.skip(v, i); n > 0 {
			i += n - 1
			continue
		}
		c := v[i]
		switch {
		case c == '=' && i+1 < len(v) && v[i+1] == '?':
			// An RFC 2047 word is one token, whatever it holds: senders put
			// ':' and ',' in them against section 5.
			i += encodedWordLen(v[i:]) - 1
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
			// A source route (obsolete, RFC 5322 section 4.4) may hold ','
			// and ':'.
		case c == ',':
			item(i)
			start = i + 1
		case c == ':' && state == noGroup:
			state = unnamedGroup
			if name := a.phrase(v[start:i]); name != "" && add(EnvAddress{Mailbox: name}) {
				state = group
			}
			start = i + 1
		case c == ';' && state != noGroup:
			item(i)
			if state == group {
				out = append(out, EnvAddress{})
			}
			state = noGroup
			start = i + 1
		}
	}
	item(len(v))
	if state == group {
		out = append(out, EnvAddress{})
	}
	return out
}

// skipper follows quoted strings and nested comments (RFC 5322 3.2.2,
// 3.2.4) while a parser walks a header value byte by byte.
type skipper struct {
	quoted  bool
	comment int
}

// skip returns how many bytes at v[i] belong to a quoted string or a
// comment (opening, inside or closing it), or 0 if v[i] is outside both.
func (k *skipper) skip(v string, i int) int {
	c := v[i]
	switch {
	case k.quoted:
		if c == '\\' {
			return 2
		}
		k.quoted = c != '"'
	case k.comment > 0:
		switch c {
		case '\\':
			return 2
		case '(':
			k.comment++
		case ')':
			k.comment--
		}
	case c == '"':
		k.quoted = true
	case c == '(':
		k.comment++
	default:
		return 0
	}
	return 1
}

// encodedWordLen returns the length of the RFC 2047 encoded word
// "=?charset?e?text?=" at the start of s, or 1 if there is none.
func encodedWordLen(s string) int {
	i := 2
	for n := 0; n < 2; n++ { // charset and encoding
		j := strings.IndexByte(s[i:], '?')
		if j <= 0 || strings.ContainsAny(s[i:i+j], " \t") {
			return 1
		}
		i += j + 1
	}
	j := strings.Index(s[i:], "?=")
	if j < 0 || strings.ContainsAny(s[i:i+j], " \t") {
		return 1
	}
	return i + j + 2
}

// mailboxAddress parses one address of a list: "Name <local@domain>" or
// "local@domain (comment)".
func (a *analyzer) mailboxAddress(s string) (EnvAddress, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return EnvAddress{}, false
	}
	if addr, err := mail.ParseAddress(s); err == nil {
		e := splitAddrSpec(addr.Address)
		e.Name = toUTF8(addr.Name)
		return e, true
	}

	name, spec := "", s
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		name, spec = s[:i], s[i+1:]
		spec, _, _ = strings.Cut(spec, ">")
	} else if !strings.Contains(s, "@") && strings.ContainsAny(s, " \t\"=") {
		// Only a display name.
		if name = a.phrase(s); name == "" {
			return EnvAddress{}, false
		}
		return EnvAddress{Name: name, Host: missingHost}, true
	}
	spec = stripComments(spec)
	route, rest, hasRoute := cutRoute(spec)
	if hasRoute {
		// Without its route the address may be one that go-message
		// parses, with a quoted local part kept as it is.
		if addr, err := mail.ParseAddress(name + "<" + rest + ">"); err == nil {
			e := splitAddrSpec(addr.Address)
			e.Name = toUTF8(addr.Name)
			e.Route = route
			return e, true
		}
		spec = rest
	}
	spec = strings.Join(strings.Fields(spec), "")
	if spec == "" {
		return EnvAddress{}, false
	}
	e := splitAddrSpec(spec)
	e.Name = a.phrase(name)
	e.Route = route
	return e, true
}

// cutRoute splits the obsolete source route off the inside of an angle
// address, comments removed: "@relay1, @relay2:local@domain" gives
// "@relay1,@relay2" and "local@domain" (RFC 5322 section 4.4: obs-route =
// obs-domain-list ":"; obs-domain-list = *(CFWS / ",") "@" domain
// *("," [CFWS] ["@" domain])). Elements that are not "@domain" are left
// out. Without the colon the route is malformed: the "@domain" words
// before the address are dropped, and the route is empty. ok is false
// when spec has no route.
func cutRoute(spec string) (route, rest string, ok bool) {
	t := strings.TrimLeft(spec, " \t,")
	if !strings.HasPrefix(t, "@") {
		return "", spec, false
	}
	end := -1
	literal := false // inside a domain literal, "[IPv6:...]"
	for i := 0; i < len(t) && end < 0; i++ {
		switch t[i] {
		case '[':
			literal = true
		case ']':
			literal = false
		case ':':
			if !literal {
				end = i
			}
		}
	}
	if end < 0 {
		words := strings.FieldsFunc(t, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		n := 0
		for n < len(words) && strings.HasPrefix(words[n], "@") {
			n++
		}
		if n == len(words) {
			return "", spec, false
		}
		return "", strings.Join(words[n:], " "), true
	}
	var elems []string
	for _, el := range strings.Split(t[:end], ",") {
		el = strings.Join(strings.Fields(el), "")
		if len(el) < 2 || el[0] != '@' || strings.ContainsAny(el[1:], "@<>") {
			continue
		}
		elems = append(elems, el)
	}
	return toUTF8(strings.Join(elems, ",")), t[end+1:], true
}

// splitAddrSpec splits local@domain into an ENVELOPE mailbox and host.
func splitAddrSpec(spec string) EnvAddress {
	var e EnvAddress
	local, host := spec, ""
	if i := strings.LastIndexByte(spec, '@'); i >= 0 {
		local, host = spec[:i], spec[i+1:]
	}
	if len(local) >= 2 && local[0] == '"' {
		local = unquote(local)
	}
	e.Mailbox = toUTF8(local)
	e.Host = toUTF8(host)
	if e.Host == "" {
		e.Host = missingHost
	}
	return e
}

// phrase returns a display name or group name: quotes and comments removed,
// white space collapsed, RFC 2047 words decoded.
func (a *analyzer) phrase(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if strings.ContainsAny(s, `"(\`) {
		var b strings.Builder
		quoted, comment := false, 0
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && (quoted || comment > 0) && i+1 < len(s):
				i++
				if comment == 0 {
					b.WriteByte(s[i])
				}
			case quoted:
				if c == '"' {
					quoted = false
				} else {
					b.WriteByte(c)
				}
			case comment > 0:
				if c == '(' {
					comment++
				} else if c == ')' {
					comment--
				}
			case c == '"':
				quoted = true
			case c == '(':
				comment++
			default:
				b.WriteByte(c)
			}
		}
		s = b.String()
	}
	return toUTF8(strings.Join(strings.Fields(a.decodeWords(s)), " "))
}

// stripComments removes RFC 5322 comments from s.
func stripComments(s string) string {
	if !strings.ContainsRune(s, '(') {
		return s
	}
	var b strings.Builder
	quoted, comment := false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || comment > 0) && i+1 < len(s):
			if comment == 0 {
				b.WriteString(s[i : i+2])
			}
			i++
		case comment > 0:
			if c == '(' {
				comment++
			} else if c == ')' {
				comment--
			}
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case c == '(' && !quoted:
			comment++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// msgIDs returns the message ids in angle brackets in a Message-ID,
// In-Reply-To or References value (RFC 5322 section 3.6.4), without the
// brackets, skipping comments and quoted strings and ignoring what is not an
// id. It stops after max ids unless max is negative.
func msgIDs(v string, max int) []string {
	var ids []string
	var sk skipper
	for i := 0; i < len(v) && len(ids) != max; i++ {
		if n := sk.skip(v, i); n > 0 {
			i += n - 1
			continue
		}
		if v[i] != '<' {
			continue
		}
		end := strings.IndexByte(v[i+1:], '>')
		if end < 0 {
			return ids
		}
		// An id has no white space; a folded one loses it.
		id := strings.Join(strings.Fields(v[i+1:i+1+end]), "")
		if id != "" && !strings.ContainsRune(id, '<') {
			ids = append(ids, toUTF8(id))
		}
		i += end + 1
	}
	return ids
}

// decodeWords decodes the RFC 2047 encoded words of a header value. If a
// charset is unknown, the value is returned as it is.
func (a *analyzer) decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := a.dec.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// headerText returns the header fields as "Name: value\n" lines for SEARCH,
// within MaxHeaderBytes.
func (a *analyzer) headerText(fields []field) string {
	return string(a.appendFieldLines(nil, fields))
}

// appendPartHeader adds the header fields of a part below the top level
// to PartText, and then, one to a line, the values of its Content-Type
// and Content-Disposition parameters (p, described) that the fields do
// not show as they are: those encoded as RFC 2231 says, which is how
// mail apps send a file name outside ASCII (filename*=UTF-8 and the
// name's octets in %XX), so that TEXT finds the name as it reads.
func (a *analyzer) appendPartHeader(fields []field, p *Part) {
	start := len(a.partText)
	a.partText = a.appendFieldLines(a.partText, fields)
	end := len(a.partText)
	for _, params := range []map[string]string{p.Params, p.DispositionParams} {
		for _, k := range slices.Sorted(maps.Keys(params)) {
			v := params[k]
			if v == "" || bytes.Contains(a.partText[start:end], []byte(v)) {
				continue
			}
			n := len(a.partText)
			a.partText = append(appendCleanLine(append(a.partText, k...), "="+v), '\n')
			if len(a.partText) > a.lim.MaxHeaderBytes {
				a.truncated = true
				a.partText = a.partText[:n]
				return
			}
		}
	}
}

// appendFieldLines appends fields to b as "Name: value\n" lines, with
// RFC 2047 words decoded, as long as b stays within MaxHeaderBytes.
func (a *analyzer) appendFieldLines(b []byte, fields []field) []byte {
	for _, f := range fields {
		n := len(b)
		b = appendCleanLine(b, toUTF8(string(f.name)))
		b = append(b, ": "...)
		b = appendCleanLine(b, toUTF8(a.decodeWords(f.unfolded())))
		b = append(b, '\n')
		if len(b) > a.lim.MaxHeaderBytes {
			a.truncated = true
			return b[:n]
		}
	}
	return b
}

// appendEnclosedHeader adds the From, To, Cc and Subject of an enclosed
// message to the body text, since they read as part of the body.
func (a *analyzer) appendEnclosedHeader(fields []field) {
	var b []byte
	for _, f := range fields {
		if f.is("from") || f.is("to") || f.is("cc") || f.is("subject") {
			b = appendCleanLine(b, toUTF8(string(f.name)))
			b = append(b, ": "...)
			b = appendCleanLine(b, toUTF8(a.decodeWords(f.unfolded())))
			b = append(b, '\n')
		}
	}
	a.appendText(b)
}

// appendCleanLine appends s with control characters turned into spaces, so
// that it stays on one line.
func appendCleanLine(b []byte, s string) []byte {
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			r = ' '
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}
