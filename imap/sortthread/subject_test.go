package sortthread

import (
	"strings"
	"testing"
	"time"
)

func TestBaseSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw   string
		base  string
		reply bool
	}{
		{"", "", false},
		{"foo", "foo", false},
		{"  foo  bar  ", "foo bar", false},
		{"Re: foo", "foo", true},
		{"re: Re: RE: foo", "foo", true},
		{"Re:Re:foo", "foo", true},
		{"Fwd: foo", "foo", true},
		{"Fw: foo", "foo", true},
		{"FWD  : foo", "foo", true},   // *WSP before the colon
		{"Re[2]: foo", "foo", true},   // a subj-blob inside subj-refwd
		{"Re [2] : foo", "foo", true}, // WSP around it
		{"[list] Re: foo", "foo", true},
		{"[list][x] Re: foo", "foo", true},
		{"[list] foo", "foo", false},
		{"Re: [list] foo", "foo", true},
		{"[list]", "[list]", false},        // (4): removing it would leave no subj-base
		{"[a] [b]", "[b]", false},          // the last blob is the subj-base
		{"[a] Re:", "", true},              // a whole leader
		{"foo (fwd)", "foo", true},         // subj-trailer
		{"foo (FWD) (fwd)  ", "foo", true}, // repeated
		{"foo(fwd)", "foo", true},
		{"[fwd: foo]", "foo", true},
		{"[Fwd: Re: foo]", "foo", true},
		{"Re: [fwd: [list] Re: foo (fwd)]", "foo", true},
		{"[fwd: [fwd: foo]]", "foo", true},
		{"[fwd:]", "", true},
		{"Review: foo", "Review: foo", false}, // "re" must be followed by *WSP [blob] ":"
		{"Re foo", "Re foo", false},
		{"Re: ", "", true},
		{"R: I: foo", "R: I: foo", false}, // other languages' prefixes are not in the RFC
		{"AW: foo", "AW: foo", false},
		{"Re: long\r\n\tsubject  here", "long subject here", true}, // folding, tabs, runs of spaces
		{"foo [bar]", "foo [bar]", false},
		{"[unclosed Re: foo", "[unclosed Re: foo", false},
		{"=?UTF-8?Q?Re:_caf=C3=A9?=", "café", true},
		{"=?ISO-8859-1?Q?Gr=FC=DFe?= (fwd)", "Grüße", true},
		{"=?UTF-8?B?W2xpc3RdIFJlOiBmb28=?=", "foo", true}, // "[list] Re: foo", base64
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab", false},      // white space between encoded words goes
		{"=?x-no-such-charset?Q?abc?=", "=?x-no-such-charset?Q?abc?=", false},
	}
	for _, tt := range tests {
		base, reply := BaseSubject(tt.raw)
		if base != tt.base || reply != tt.reply {
			t.Errorf("BaseSubject(%q) = %q, %v; want %q, %v", tt.raw, base, reply, tt.base, tt.reply)
		}
	}
}

func TestBaseSubjectISO2022JP(t *testing.T) {
	t.Parallel()
	// The Subject of the corpus's japanese.txt, split over two encoded words.
	raw := "=?ISO-2022-JP?B?GyRCRnxLXDhsJWEhPCVrJUYlOSVIGyhCICh0ZXN0aW5nIEph?=\r\n =?ISO-2022-JP?B?cGFuZXNlIGVtYWlscyk=?="
	base, reply := BaseSubject(raw)
	if want := "日本語メールテスト (testing Japanese emails)"; base != want || reply {
		t.Errorf("BaseSubject = %q, %v; want %q, false", base, reply, want)
	}
}

func TestCollationKey(t *testing.T) {
	t.Parallel()
	equal := [][2]string{
		{"abc", "ABC"},
		{"Foo Bar", "fOO bAR"},
		{"café", "CAFÉ"},
		{"ǆ", "ǅ"},                 // title case, not upper case, is the common form
		{"été", "E\u0301TE\u0301"}, // canonical decomposition (RFC 5051)
		{"Å", "\u212b"},            // ANGSTROM SIGN decomposes to Å, then A and U+030A
		{"\u1f80", "\u1f88"},       // title case, then full decomposition
		{"", ""},
		{"gr\xfc\xdfe", "GR\xfc\xdfE"}, // Latin-1 bytes, not UTF-8: kept
	}
	for _, p := range equal {
		if a, b := CollationKey(p[0]), CollationKey(p[1]); a != b {
			t.Errorf("CollationKey(%q) = %q, CollationKey(%q) = %q; want equal", p[0], a, p[1], b)
		}
	}
	less := [][2]string{
		{"a", "B"},
		{"B", "c"},
		{"", "a"},
		{"é", "z"}, // É decomposes to E and U+0301, so it sorts among the E's
		{"Émile", "Zoe"},
		{"etz", "été"}, // U+0301 (CC 81) after T
		{"z", "ø"},     // Ø has no decomposition: octet order of the UTF-8
		{"a\xe9", "a\xfc"},
	}
	for _, p := range less {
		if a, b := CollationKey(p[0]), CollationKey(p[1]); a >= b {
			t.Errorf("CollationKey(%q) = %q not before CollationKey(%q) = %q", p[0], a, p[1], b)
		}
	}
}

func FuzzBaseSubject(f *testing.F) {
	for _, s := range []string{"Re: foo", "[a] [b]", "[fwd: Re: x (fwd)]", "Re[2]: [l] Fw: y", "=?UTF-8?Q?Re:_caf=C3=A9?=", "\t\r\n  ",
		"[a][b] [c]Re: [d] x", "[a][b]", "[a] [b] re [c] : [fwd: [d] e]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		base, isReply := BaseSubject(raw)
		if rb, rr := refBaseSubject(raw); rb != base || rr != isReply {
			t.Fatalf("BaseSubject(%q) = %q, %v; the step-by-step reading gives %q, %v", raw, base, isReply, rb, rr)
		}
		if strings.HasPrefix(base, " ") || strings.HasSuffix(base, " ") || strings.Contains(base, "  ") || strings.ContainsAny(base, "\t\r\n") {
			t.Fatalf("BaseSubject(%q) = %q: white space left", raw, base)
		}
		if strings.Contains(base, "=?") {
			return // decoding again could find new encoded words
		}
		// The base subject of a base subject is itself, and not a reply.
		again, reply := BaseSubject(base)
		if again != base || reply {
			t.Fatalf("BaseSubject(%q) = %q, but BaseSubject of that = %q, %v", raw, base, again, reply)
		}
	})
}

// refBaseSubject is RFC 5256 section 2.1 step by step, one blob per round
// of (3)-(5): slow on long runs of blobs, but the plain reading that
// BaseSubject must agree with.
func refBaseSubject(raw string) (string, bool) {
	s := normalizeSubject(decodeWords(raw))
	reply := false
	for {
		for {
			if n := len(s); n > 0 && s[n-1] == ' ' {
				s = s[:n-1]
			} else if n >= 5 && strings.EqualFold(s[n-5:], "(fwd)") {
				s, reply = s[:n-5], true
			} else {
				break
			}
		}
		for {
			changed := false
			for {
				if len(s) > 0 && s[0] == ' ' {
					s = s[1:]
				} else if n := matchRefwdLeader(s); n > 0 {
					s, reply = s[n:], true
				} else {
					break
				}
				changed = true
			}
			if n := matchBlob(s); n > 0 && hasNonWSP(s[n:]) {
				s, changed = s[n:], true
			}
			if !changed {
				break
			}
		}
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s, reply = s[5:len(s)-1], true
			continue
		}
		return s, reply
	}
}

// TestBaseSubjectLongRuns: subjects made of many blobs, leaders or
// wrappings, as long as a header may be, come out right and in linear time.
func TestBaseSubjectLongRuns(t *testing.T) {
	t.Parallel()
	const n = 100000
	tests := []struct {
		raw, base string
		reply     bool
	}{
		{strings.Repeat("[a]", n) + " x", "x", false},
		{strings.Repeat("[a] ", n), "[a]", false},
		{strings.Repeat("[a]Re: ", n) + "x", "x", true},
		{strings.Repeat("Re: ", n) + "x", "x", true},
		{"x" + strings.Repeat(" (fwd)", n), "x", true},
		{strings.Repeat("[fwd: ", n) + "x" + strings.Repeat("]", n), "x", true},
		{strings.Repeat("[", n) + "x", strings.Repeat("[", n) + "x", false},
	}
	for _, tt := range tests {
		start := time.Now()
		base, reply := BaseSubject(tt.raw)
		if base != tt.base || reply != tt.reply {
			t.Errorf("BaseSubject(%.20q...) = %.20q, %v; want %.20q, %v", tt.raw, base, reply, tt.base, tt.reply)
		}
		// Linear time is well under a millisecond here; the quadratic
		// reading took over a minute for the first case.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("BaseSubject(%.20q...) took %v", tt.raw, d)
		}
	}
}
