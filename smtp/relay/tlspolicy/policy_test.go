package tlspolicy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	// enforcePolicy is what the test policy host serves unless a test
	// says otherwise: a week, two patterns.
	enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\nmax_age: 604800\r\n"
	testingPolicy = "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 86400\n"
)

func TestParse(t *testing.T) {
	t.Parallel()
	week := 604800 * time.Second
	for _, tc := range []struct {
		name, text string
		want       Policy
	}{
		{"RFC 8461 3.2 example, CRLF", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			Policy{ModeEnforce, []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, week}},
		{"LF, no final line end", "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400",
			Policy{ModeTesting, []string{"mx.example.com"}, 86400 * time.Second}},
		{"any order, spaces after the colon and at the end", "max_age:604800 \nmx:\t mx.example.com\t\nmode:   enforce\nversion: STSv1",
			Policy{ModeEnforce, []string{"mx.example.com"}, week}},
		{"mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 0\n", Policy{ModeNone, nil, 0}},
		{"unknown keys ignored", "version: STSv1\nmode: enforce\nfoo_bar.baz-1: anything at all, even: colons\nmx: mx.example.com\nmax_age: 1\nMode: nonsense\n",
			Policy{ModeEnforce, []string{"mx.example.com"}, time.Second}},
		{"empty lines skipped", "\nversion: STSv1\r\n\r\nmode: enforce\n  \nmx: mx.example.com\nmax_age: 5\n\n",
			Policy{ModeEnforce, []string{"mx.example.com"}, 5 * time.Second}},
		{"mx lower-cased, trailing dot dropped, duplicates dropped", "version: STSv1\nmode: enforce\nmx: MX.Example.COM.\nmx: mx.example.com\nmax_age: 60\n",
			Policy{ModeEnforce, []string{"mx.example.com"}, time.Minute}},
		{"max_age at the maximum", "version: STSv1\nmode: enforce\nmx: a\nmax_age: 31557600\n",
			Policy{ModeEnforce, []string{"a"}, MaxMaxAge}},
		{"max_age above the maximum lowered to it", "version: STSv1\nmode: enforce\nmx: a\nmax_age: 9999999999\n",
			Policy{ModeEnforce, []string{"a"}, MaxMaxAge}},
		{"leading zeros", "version: STSv1\nmode: enforce\nmx: a\nmax_age: 0000000060\n",
			Policy{ModeEnforce, []string{"a"}, time.Minute}},
		{"UTF-8 in an extension value", "version: STSv1\nmode: none\nnote: déjà vu\nmax_age: 1\n", Policy{ModeNone, nil, time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	const ok = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n"
	for _, tc := range []struct{ name, text, why string }{
		{"empty", "", "no version"},
		{"no version", "mode: enforce\nmx: a\nmax_age: 1\n", "no version"},
		{"version STSv2", strings.Replace(ok, "STSv1", "STSv2", 1), "not STSv1"},
		{"version in lower case", strings.Replace(ok, "STSv1", "stsv1", 1), "not STSv1"},
		{"no mode", "version: STSv1\nmx: a\nmax_age: 1\n", "no mode"},
		{"mode in upper case", strings.Replace(ok, "enforce", "ENFORCE", 1), "mode"},
		{"unknown mode", strings.Replace(ok, "enforce", "reject", 1), "mode"},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a\n", "no max_age"},
		{"max_age not a number", strings.Replace(ok, "604800", "1w", 1), "max_age"},
		{"max_age negative", strings.Replace(ok, "604800", "-1", 1), "max_age"},
		{"max_age 11 digits", strings.Replace(ok, "604800", "10000000000", 1), "max_age"},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx"},
		{"testing without mx", "version: STSv1\nmode: testing\nmax_age: 1\n", "no mx"},
		{"mode twice", ok + "mode: testing\n", "twice"},
		{"version twice", ok + "version: STSv1\n", "twice"},
		{"max_age twice", ok + "max_age: 1\n", "twice"},
		{"line without colon", ok + "mx mx2.example.com\n", "no colon"},
		{"space before the colon", strings.Replace(ok, "mode:", "mode :", 1), "invalid key"},
		{"leading space", strings.Replace(ok, "mode:", " mode:", 1), "invalid key"},
		{"empty key", ok + ": x\n", "invalid key"},
		{"key 33 bytes", ok + strings.Repeat("k", 33) + ": x\n", "invalid key"},
		{"key starting with _", ok + "_x: y\n", "invalid key"},
		{"empty value", strings.Replace(ok, "mode: enforce", "mode:", 1), "empty value"},
		{"empty extension value", ok + "foo: \n", "empty value"},
		{"control character", ok + "foo: a\x00b\n", "control"},
		{"bare CR inside a line", ok + "foo: a\rb\n", "control"},
		{"not UTF-8", ok + "foo: \xff\n", "UTF-8"},
		{"mx with two wildcards", strings.Replace(ok, "mx.example.com", "*.*.example.com", 1), "mx"},
		{"mx partial wildcard", strings.Replace(ok, "mx.example.com", "mx*.example.com", 1), "mx"},
		{"mx wildcard without dot", strings.Replace(ok, "mx.example.com", "*example.com", 1), "mx"},
		{"mx wildcard alone", strings.Replace(ok, "mx.example.com", "*", 1), "mx"},
		{"mx empty label", strings.Replace(ok, "mx.example.com", "mx..example.com", 1), "mx"},
		{"mx with underscore", strings.Replace(ok, "mx.example.com", "mx_1.example.com", 1), "mx"},
		{"mx with space", strings.Replace(ok, "mx.example.com", "mx example.com", 1), "mx"},
		{"mx leading hyphen", strings.Replace(ok, "mx.example.com", "-mx.example.com", 1), "mx"},
		{"mx label of 64", strings.Replace(ok, "mx.example.com", strings.Repeat("a", 64)+".example.com", 1), "mx"},
		{"mx IP address literal", strings.Replace(ok, "mx.example.com", "[192.0.2.1]", 1), "mx"},
		{"mx in UTF-8", strings.Replace(ok, "mx.example.com", "mx.bücher.example", 1), "mx"},
		{"too large", ok + "pad: " + strings.Repeat("x", MaxPolicySize) + "\n", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.text)
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", p)
			}
			if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q: want ErrInvalidPolicy mentioning %q", err, tc.why)
			}
		})
	}
}

func TestParseSizeLimit(t *testing.T) {
	t.Parallel()
	head := "version: STSv1\nmode: none\nmax_age: 1\npad: "
	exact := head + strings.Repeat("x", MaxPolicySize-len(head))
	if _, err := Parse(exact); err != nil {
		t.Errorf("policy of exactly %d bytes: %v", len(exact), err)
	}
	if _, err := Parse(exact + "x"); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("one byte more: %v, want an error", err)
	}
}

func TestPolicyString(t *testing.T) {
	t.Parallel()
	p := Policy{ModeTesting, []string{"mx.example.com", "*.example.net"}, 86400 * time.Second}
	want := "version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n"
	if got := p.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	back, err := Parse(p.String())
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Errorf("Parse(String) = %+v, %v; want %+v", back, err, p)
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	p := Policy{Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net"}}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"mail.example.com", true},
		{"MAIL.Example.COM", true},
		{"mail.example.com.", true},
		{"mail.example.com..", false},
		{"example.com", false},
		{"mail2.example.com", false},
		{"x.mail.example.com", false},
		{"mx.example.net", true},
		{"MX.EXAMPLE.NET.", true},
		{"example.net", false},     // the wildcard needs a label
		{".example.net", false},    // an empty label is none
		{"a.b.example.net", false}, // and stands for exactly one
		{"mx.example.net.evil", false},
		{"mxexample.net", false},
		{"", false},
		{".", false},
	} {
		if got := p.Matches(tc.host); got != tc.want {
			t.Errorf("Matches(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	if (Policy{}).Matches("mail.example.com") {
		t.Error("a policy without patterns matches a host")
	}
}

func TestModeString(t *testing.T) {
	t.Parallel()
	for m, want := range map[Mode]string{ModeNone: "none", ModeTesting: "testing", ModeEnforce: "enforce", Mode(7): "Mode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, and that whatever it accepts
// keeps its promises and survives String and Parse again unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		enforcePolicy, testingPolicy,
		"version: STSv1\nmode: none\nmax_age: 0\n",
		"version: STSv1\nmode: enforce\nmx: *.Example.COM.\nmx: a\nmax_age: 99999999999\nx: y\n",
		"version:STSv1\r\n\r\nmode:\ttesting \r\nmx: a-b.c\r\nmax_age: 31557601",
		"mode: enforce\nmode: enforce\n", ":\n\r\n", "mx: *.\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v does not wrap ErrInvalidPolicy", err)
			}
			return
		}
		if len(text) > MaxPolicySize {
			t.Fatalf("accepted %d bytes", len(text))
		}
		if p.Mode != ModeNone && len(p.MX) == 0 {
			t.Fatalf("mode %v without mx", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge || p.MaxAge%time.Second != 0 {
			t.Fatalf("max_age %v", p.MaxAge)
		}
		for _, mx := range p.MX {
			if mx != strings.ToLower(mx) || strings.HasSuffix(mx, ".") || !validHostname(strings.TrimPrefix(mx, "*.")) {
				t.Fatalf("pattern %q", mx)
			}
			if host := strings.TrimPrefix(mx, "*."); mx == host && !p.Matches(strings.ToUpper(host)+".") {
				t.Fatalf("pattern %q does not match itself", mx)
			}
		}
		back, err := Parse(p.String())
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", p.String(), back, err, p)
		}
	})
}
