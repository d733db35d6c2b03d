package tlspolicy

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoRecord means the domain publishes no usable MTA-STS TXT record:
// none at all, none starting with v=STSv1, several, or a malformed one.
// RFC 8461 3.1 treats all of these as "no policy available"; a DNS
// failure is a different error.
var ErrNoRecord = errors.New("tlspolicy: no MTA-STS record")

// stsVersion starts every MTA-STS TXT record (RFC 8461 3.1).
const stsVersion = "v=STSv1"

// isSTSRecord reports whether a TXT record claims to be an MTA-STS
// record: it starts with v=STSv1 and then a separator or nothing. RFC
// 8461 3.1 discards every other record before counting.
func isSTSRecord(s string) bool {
	rest, ok := strings.CutPrefix(s, stsVersion)
	return ok && (rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t')
}

// pickRecord returns the id of the one MTA-STS record among a domain's
// TXT records (RFC 8461 3.1), or an error wrapping ErrNoRecord.
func pickRecord(txts []string) (string, error) {
	var sts []string
	for _, t := range txts {
		if isSTSRecord(t) {
			sts = append(sts, t)
		}
	}
	switch len(sts) {
	case 0:
		return "", fmt.Errorf("%w: no %s record", ErrNoRecord, stsVersion)
	case 1:
		return parseRecord(sts[0])
	}
	return "", fmt.Errorf("%w: %d %s records", ErrNoRecord, len(sts), stsVersion)
}

// parseRecord returns the id of an MTA-STS TXT record (RFC 8461 3.1):
//
//	v=STSv1; id=<1 to 32 letters and digits>[; ext=value]...[;]
//
// with optional spaces around each ";". Extensions are ignored but must
// be well-formed; id must appear exactly once.
func parseRecord(s string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: malformed record %q: %s", ErrNoRecord, s, why)
	}
	fields := strings.Split(s, ";")
	if strings.TrimRight(fields[0], " \t") != stsVersion {
		return bad("does not start with " + stsVersion)
	}
	fields = fields[1:]
	// sts-sep may end the record: one trailing ";" leaves an empty field.
	if n := len(fields); n > 0 && strings.Trim(fields[n-1], " \t") == "" {
		fields = fields[:n-1]
	}
	if len(fields) == 0 {
		return bad("no id")
	}
	var id string
	for _, f := range fields {
		f = strings.Trim(f, " \t")
		name, value, ok := strings.Cut(f, "=")
		if !ok || !validKey(name) || !validExtValue(value) {
			return bad("field " + f)
		}
		if name != "id" {
			continue
		}
		if id != "" {
			return bad("id given twice")
		}
		if !validID(value) {
			return bad("id is not 1 to 32 letters and digits")
		}
		id = value
	}
	if id == "" {
		return bad("no id")
	}
	return id, nil
}

// validID is 1*32(ALPHA / DIGIT) (RFC 8461 3.1).
func validID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// validExtValue is sts-ext-value: 1*(%x21-3A / %x3C / %x3E-7E), visible
// ASCII except ";" and "=" (RFC 8461 3.1).
func validExtValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ';' || c == '=' {
			return false
		}
	}
	return true
}
