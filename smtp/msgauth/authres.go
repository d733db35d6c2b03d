package msgauth

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Header returns one complete Authentication-Results field (RFC 8601),
// folded, one result per line, ending in CRLF, to put on top of the message.
// Every value that came from the message or DNS is reduced to characters
// that cannot break the field.
func (v Verdict) Header() string {
	var rs []authres.Result
	spf := &authres.SPFResult{Value: authres.ResultValue(v.SPF.Result), Reason: authresText(v.SPF.Reason, 80)}
	if v.SPF.Helo {
		spf.Helo = authresName(v.SPF.Domain, 253)
	} else {
		spf.From = authresName(v.SPF.Domain, 253)
	}
	rs = append(rs, spf)
	if len(v.DKIM) == 0 {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range v.DKIM {
		// authres.DKIMResult has no header.s (RFC 8601 2.7.1 allows it).
		rs = append(rs, &authres.GenericResult{Method: "dkim", Value: authres.ResultValue(d.Result), Params: map[string]string{
			"reason": authresText(d.Reason, 80), "header.d": authresName(d.Domain, 253), "header.s": authresName(d.Selector, 63),
		}})
	}
	rs = append(rs, &authres.DMARCResult{Value: authres.ResultValue(v.DMARC.Result),
		Reason: authresText(v.DMARC.Reason, 80), From: authresName(v.DMARC.Domain, 253)})

	id := authresName(v.authservID, 253)
	var b strings.Builder
	b.WriteString("Authentication-Results: " + id + ";")
	for i, r := range rs {
		// authres.Format writes "id; method=value params" on one line: take
		// each result alone and fold between them.
		s := strings.TrimSpace(strings.TrimPrefix(authres.Format(id, []authres.Result{r}), id+"; "))
		b.WriteString("\r\n\t" + s)
		if i < len(rs)-1 {
			b.WriteString(";")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// authresText keeps printable ASCII except quotes, backslashes, semicolons
// and parentheses, and at most n bytes: a reason then stays one quoted
// string even for readers that split the field at semicolons or drop
// comments.
func authresText(s string, n int) string {
	return authresKeep(s, n, func(r rune) bool {
		return r >= 0x20 && r <= 0x7e && !strings.ContainsRune("\"\\;()", r)
	})
}

// authresName keeps the characters of a domain name or selector.
func authresName(s string, n int) string {
	return authresKeep(s, n, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
	})
}

func authresKeep(s string, n int, keep func(rune) bool) string {
	s = strings.Map(func(r rune) rune {
		if keep(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}
