package mailbox

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Address
		wantErr string // substring of the error; "" means success
	}{
		{in: "alice@example.org", want: Address{"alice", "example.org"}},
		{in: "Alice@Example.ORG", want: Address{"alice", "example.org"}},
		{in: "  bob@example.net\t", want: Address{"bob", "example.net"}},
		{in: "alice+tag@example.org", want: Address{"alice+tag", "example.org"}},
		{in: "o'brien.j@example.org", want: Address{"o'brien.j", "example.org"}},
		{in: "user@localhost", want: Address{"user", "localhost"}},
		{in: "user@a-b.c0.example", want: Address{"user", "a-b.c0.example"}},

		// IDN.
		{in: "user@bücher.example", want: Address{"user", "xn--bcher-kva.example"}},
		{in: "user@BÜCHER.Example", want: Address{"user", "xn--bcher-kva.example"}},
		{in: "user@xn--bcher-kva.example", want: Address{"user", "xn--bcher-kva.example"}},
		{in: "user@XN--BCHER-KVA.EXAMPLE", want: Address{"user", "xn--bcher-kva.example"}},
		{in: "user@ｅｘａｍｐｌｅ.com", want: Address{"user", "example.com"}},
		{in: "user@faß.de", want: Address{"user", "xn--fa-hia.de"}},
		{in: "user@xn--zz.example", wantErr: "not a valid host name"},
		{in: "user@a\u200db.example", wantErr: "cannot convert internationalized domain name"},
		{in: "user@\u0661.example", wantErr: "cannot convert internationalized domain name"},
		{in: "K@\u2137A", wantErr: "cannot convert internationalized domain name"}, // found by FuzzParseAddress

		// SMTPUTF8 local parts.
		{in: "Jörg@example.de", want: Address{"jörg", "example.de"}},
		{in: "用户@例子.广告", want: Address{"用户", "xn--fsqu00a.xn--4rr70v"}},
		{in: "ΑΛΦΑ@example.gr", want: Address{"αλφα", "example.gr"}},
		{in: "a\xffb@example.org", wantErr: "not valid UTF-8"},

		// Quoted local parts are kept as given, lower-cased.
		{in: `"John Doe"@example.org`, want: Address{`"john doe"`, "example.org"}},
		{in: `"a@b"@example.org`, want: Address{`"a@b"`, "example.org"}},
		{in: `"a\"b"@example.org`, want: Address{`"a\"b"`, "example.org"}},
		{in: `"unterminated@example.org`, wantErr: "unterminated quoted local part"},
		{in: `"a"b@example.org`, wantErr: `unexpected 'b' after quoted local part`},
		{in: `""@example.org`, wantErr: "empty local part"},
		{in: `"a"`, wantErr: "missing @"},

		// Structure.
		{in: "", wantErr: "empty address"},
		{in: "   ", wantErr: "empty address"},
		{in: "alice", wantErr: "missing @"},
		{in: "@example.org", wantErr: "empty local part"},
		{in: "alice@", wantErr: "empty domain"},
		{in: "a@b@example.org", wantErr: "more than one @"},
		{in: "alice smith@example.org", wantErr: `character ' ' not allowed in local part`},
		{in: "<alice@example.org>", wantErr: `character '<' not allowed in local part`},
		{in: "alice@exa mple.org", wantErr: "white space in domain"},
		{in: "alice@ example.org", wantErr: "white space in domain"},

		// Control characters.
		{in: "ali\x00ce@example.org", wantErr: "control character U+0000"},
		{in: "alice@example.org\r\nRCPT TO:<x@y>", wantErr: "control character U+000D"},
		{in: "al\tice@example.org", wantErr: "control character U+0009"},
		{in: `"al` + "\n" + `ice"@example.org`, wantErr: "control character U+000A"},
		{in: "alice@exam\x7fple.org", wantErr: "control character U+007F"},
		{in: "alice\u0085@example.org", wantErr: "control character U+0085"},

		// Domains.
		{in: "alice@example.org.", wantErr: "trailing dot"},
		{in: "alice@example。org。", wantErr: "trailing dot"},
		{in: "alice@[127.0.0.1]", wantErr: "domain literals are not supported"},
		{in: "alice@[IPv6:::1]", wantErr: "domain literals are not supported"},
		{in: "alice@127.0.0.1", wantErr: "numeric top-level label"},
		{in: "alice@example..org", wantErr: "empty label"},
		{in: "alice@.example.org", wantErr: "empty label"},
		{in: "alice@-example.org", wantErr: "not a valid host name"},
		{in: "alice@under_score.org", wantErr: "not a valid host name"},
		{in: "alice@xn--.org", wantErr: "empty label"},

		// Lengths: local part 64, address 254 (RFC 5321 section 4.5.3.1).
		{in: strings.Repeat("a", 64) + "@example.org", want: Address{strings.Repeat("a", 64), "example.org"}},
		{in: strings.Repeat("a", 65) + "@example.org", wantErr: "local part longer than 64 octets"},
		{in: "a@" + strings.Repeat("b", 64) + ".org", wantErr: "longer than 63 octets"},
		{in: "a@" + longDomain(252), want: Address{"a", longDomain(252)}},
		{in: "a@" + longDomain(253), wantErr: "longer than 254 octets"},
		{in: "ab@" + longDomain(252), wantErr: "longer than 254 octets"},
		{in: strings.Repeat("a", 2000) + "@example.org", wantErr: "longer than 254 octets"},
	}
	for _, tt := range tests {
		got, err := ParseAddress(tt.in)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ParseAddress(%q): %v", tt.in, err)
			} else if got != tt.want {
				t.Errorf("ParseAddress(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseAddress(%q) = %#v, want error containing %q", tt.in, got, tt.wantErr)
			continue
		}
		if !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("ParseAddress(%q): error %v does not wrap ErrInvalidAddress", tt.in, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.wantErr) || !strings.HasPrefix(msg, "mailbox: invalid address ") || strings.Contains(msg, "\n") {
			t.Errorf("ParseAddress(%q): error %q, want a one-line %q", tt.in, msg, tt.wantErr)
		}
	}
}

// longDomain returns a valid domain of n octets.
func longDomain(n int) string {
	var labels []string
	for n > 0 {
		l := min(n, 63)
		if n-l == 1 { // a label of 0 octets after the dot is not possible
			l--
		}
		labels = append(labels, strings.Repeat("x", l))
		n -= l + 1
	}
	return strings.Join(labels, ".")
}

func TestParseAddressErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := ParseAddress("x")
	if got, want := err.Error(), `mailbox: invalid address "x": missing @`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	_, err = ParseAddress(strings.Repeat("x", 5000))
	if len(err.Error()) > 200 {
		t.Errorf("error for long input is %d octets long", len(err.Error()))
	}
}

func TestAddressString(t *testing.T) {
	t.Parallel()
	a := Address{Local: `"john doe"`, Domain: "example.org"}
	if got, want := a.String(), `"john doe"@example.org`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestAddressBase(t *testing.T) {
	t.Parallel()
	tests := []struct{ local, want string }{
		{"alice", "alice"},
		{"alice+tag", "alice"},
		{"alice+tag+more", "alice"},
		{"alice+", "alice"},
		{"+", "+"},
		{"+tag", "+tag"},
		{`"alice+tag"`, `"alice+tag"`},
		{"jörg+news", "jörg"},
	}
	for _, tt := range tests {
		a := Address{Local: tt.local, Domain: "example.org"}
		if got := a.Base(); got != (Address{tt.want, "example.org"}) {
			t.Errorf("Address{%q}.Base() = %#v, want local %q", tt.local, got, tt.want)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, wantErr string }{
		{in: "Example.ORG", want: "example.org"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "例子.广告", want: "xn--fsqu00a.xn--4rr70v"},
		{in: "example.org.", wantErr: "trailing dot"},
		{in: "[127.0.0.1]", wantErr: "domain literals are not supported"},
		{in: "", wantErr: "empty domain"},
		{in: "a..b", wantErr: "empty label"},
		{in: "xn--zz.example", wantErr: "not a valid host name"},
		{in: "bü\u200dcher.example", wantErr: "cannot convert internationalized domain name"},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("NormalizeDomain(%q): %v", tt.in, err)
		case tt.wantErr == "" && got != tt.want:
			t.Errorf("NormalizeDomain(%q) = %q, want %q", tt.in, got, tt.want)
		case tt.wantErr != "" && err == nil:
			t.Errorf("NormalizeDomain(%q) = %q, want error containing %q", tt.in, got, tt.wantErr)
		case tt.wantErr != "" && (!strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidAddress)):
			t.Errorf("NormalizeDomain(%q): error %q, want one containing %q that wraps ErrInvalidAddress", tt.in, err, tt.wantErr)
		}
	}
}
