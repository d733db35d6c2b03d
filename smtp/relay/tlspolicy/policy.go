package tlspolicy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Mode is a policy's mode (RFC 8461 3.2, 5). The zero value is ModeNone,
// so that a zero Policy or Result means "no policy".
type Mode int

const (
	// ModeNone: deliver as if the domain had no policy.
	ModeNone Mode = iota
	// ModeTesting: check the MX hosts and their certificates, report
	// failures, but deliver anyway.
	ModeTesting
	// ModeEnforce: deliver only to matching MX hosts over STARTTLS with a
	// certificate valid for the MX name.
	ModeEnforce
)

// String is the mode's token in a policy ("none", "testing", "enforce").
func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeTesting:
		return "testing"
	case ModeEnforce:
		return "enforce"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// MaxPolicySize bounds a policy body. RFC 8461 3.3 lets senders limit it;
// 64 KiB is what it suggests and far above any real policy.
const MaxPolicySize = 64 << 10

// MaxMaxAge is the largest max_age a policy may give (RFC 8461 3.2).
const MaxMaxAge = 31557600 * time.Second

// ErrInvalidPolicy is wrapped by every error of Parse.
var ErrInvalidPolicy = errors.New("tlspolicy: invalid policy")

// Policy is a parsed MTA-STS policy (RFC 8461 3.2). Its version is always
// STSv1; extension fields are dropped.
type Policy struct {
	Mode Mode
	// MX are the allowed MX patterns, lower-case, without a trailing dot,
	// each a host name or "*." and a host name; duplicates dropped.
	// Empty only in mode none.
	MX []string
	// MaxAge is how long the policy may be cached after it was fetched,
	// at most MaxMaxAge.
	MaxAge time.Duration
}

// Parse parses a policy body (RFC 8461 3.2). Lines end with LF or CRLF;
// each is "key:" then optional spaces and the value. version, mode and
// max_age must appear exactly once, mx at least once unless the mode is
// none; keys and the values of these fields are case-sensitive; other keys
// are ignored (RFC 8461 3.2) but must still be well-formed. Empty lines
// are skipped. A max_age above MaxMaxAge is lowered to it: the policy host
// broke a MUST, but dropping the policy would turn its enforce into no
// protection at all.
func Parse(text string) (Policy, error) {
	var p Policy
	if len(text) > MaxPolicySize {
		return p, fmt.Errorf("%w: longer than %d bytes", ErrInvalidPolicy, MaxPolicySize)
	}
	if !utf8.ValidString(text) {
		return p, fmt.Errorf("%w: not UTF-8", ErrInvalidPolicy)
	}
	var haveVersion, haveMode, haveMaxAge bool
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.Trim(line, " \t") == "" {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrInvalidPolicy, n+1, fmt.Sprintf(format, args...))
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return Policy{}, bad("no colon")
		}
		if !validKey(key) {
			return Policy{}, bad("invalid key %q", key)
		}
		value = strings.Trim(value, " \t")
		if value == "" || strings.ContainsFunc(value, isCTL) {
			return Policy{}, bad("%s: empty value or control character", key)
		}
		once := func(seen *bool) error {
			if *seen {
				return bad("%s given twice", key)
			}
			*seen = true
			return nil
		}
		switch key {
		case "version":
			if err := once(&haveVersion); err != nil {
				return Policy{}, err
			}
			if value != "STSv1" {
				return Policy{}, bad("version %q is not STSv1", value)
			}
		case "mode":
			if err := once(&haveMode); err != nil {
				return Policy{}, err
			}
			m, ok := parseMode(value)
			if !ok {
				return Policy{}, bad("mode %q is not enforce, testing or none", value)
			}
			p.Mode = m
		case "max_age":
			if err := once(&haveMaxAge); err != nil {
				return Policy{}, err
			}
			d, ok := parseMaxAge(value)
			if !ok {
				return Policy{}, bad("max_age %q is not 1 to 10 digits", value)
			}
			p.MaxAge = d
		case "mx":
			pat, ok := parsePattern(value)
			if !ok {
				return Policy{}, bad("mx %q is not a host name or *. and a host name", value)
			}
			if !slices.Contains(p.MX, pat) {
				p.MX = append(p.MX, pat)
			}
		}
	}
	switch {
	case !haveVersion:
		return Policy{}, fmt.Errorf("%w: no version", ErrInvalidPolicy)
	case !haveMode:
		return Policy{}, fmt.Errorf("%w: no mode", ErrInvalidPolicy)
	case !haveMaxAge:
		return Policy{}, fmt.Errorf("%w: no max_age", ErrInvalidPolicy)
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return Policy{}, fmt.Errorf("%w: no mx in mode %s", ErrInvalidPolicy, p.Mode)
	}
	return p, nil
}

// String is the policy as a body that Parse reads back to the same
// Policy, with CRLF line ends (RFC 8461 3.2). The store may keep it so.
func (p Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: " + p.Mode.String() + "\r\n")
	for _, mx := range p.MX {
		b.WriteString("mx: " + mx + "\r\n")
	}
	b.WriteString("max_age: " + strconv.FormatInt(int64(p.MaxAge/time.Second), 10) + "\r\n")
	return b.String()
}

// Matches reports whether host (an MX host name, in any case, with or
// without a trailing dot) matches one of the policy's mx patterns (RFC
// 8461 4.1). A pattern "*.example.com" matches "mx.example.com" but not
// "example.com" nor "a.mx.example.com": the wildcard stands for exactly
// one leftmost label.
func (p Policy) Matches(host string) bool {
	host = trimDot(host)
	if host == "" {
		return false
	}
	for _, pat := range p.MX {
		if matchPattern(pat, host) {
			return true
		}
	}
	return false
}

func matchPattern(pat, host string) bool {
	if suffix, ok := strings.CutPrefix(pat, "*."); ok {
		label, rest, ok := strings.Cut(host, ".")
		return ok && label != "" && strings.EqualFold(rest, suffix)
	}
	return strings.EqualFold(host, pat)
}

func parseMode(s string) (Mode, bool) {
	switch s {
	case "none":
		return ModeNone, true
	case "testing":
		return ModeTesting, true
	case "enforce":
		return ModeEnforce, true
	}
	return 0, false
}

// parseMaxAge reads 1*10DIGIT (RFC 8461 3.2), lowered to MaxMaxAge.
func parseMaxAge(s string) (time.Duration, bool) {
	if len(s) > 10 || strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	// Compare in seconds: ten digits of seconds overflow a Duration.
	return time.Duration(min(n, int64(MaxMaxAge/time.Second))) * time.Second, true
}

// parsePattern reads an mx value, ["*."] Domain (RFC 8461 3.2, RFC 5321
// 4.1.2), and returns it in lower case. A trailing dot is tolerated and
// dropped: it names the same host, and refusing it would only lose a
// policy to a harmless typo.
func parsePattern(s string) (string, bool) {
	s = strings.ToLower(trimDot(s))
	if !validHostname(strings.TrimPrefix(s, "*.")) {
		return "", false
	}
	return s, true
}

// validHostname reports whether s is an RFC 5321 Domain in ASCII: labels
// of letters, digits and inner hyphens, 1 to 63 bytes each, 253 in all.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

// validKey is sts-policy-ext-name (RFC 8461 3.2), also used for the TXT
// record's sts-ext-name (3.1): a letter or digit, then up to 31 letters,
// digits, "_", "-" or ".".
func validKey(s string) bool {
	if s == "" || len(s) > 32 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }

func trimDot(s string) string { return strings.TrimSuffix(s, ".") }
