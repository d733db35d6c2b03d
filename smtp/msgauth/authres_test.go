package msgauth

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

func TestStripAuthResults(t *testing.T) {
	t.Parallel()
	const id = "mx.pillarbox.test"
	body := "\r\nAuthentication-Results: mx.pillarbox.test; spf=pass\r\n"
	for _, tc := range []struct{ name, in, want string }{
		{"ours", "Authentication-Results: mx.pillarbox.test; dkim=pass\r\nFrom: a@b.example\r\n" + body,
			"From: a@b.example\r\n" + body},
		{"case", "authentication-results:   MX.Pillarbox.TEST; dkim=pass\r\nFrom: a@b.example\r\n" + body,
			"From: a@b.example\r\n" + body},
		{"folded", "From: a@b.example\r\nAuthentication-Results:\r\n mx.pillarbox.test;\r\n\tdkim=pass\r\nTo: c@d.example\r\n" + body,
			"From: a@b.example\r\nTo: c@d.example\r\n" + body},
		{"comment and version", "Authentication-Results: (forged) mx.pillarbox.test 1; none\r\nFrom: a@b.example\r\n" + body,
			"From: a@b.example\r\n" + body},
		{"quoted", "Authentication-Results: \"mx.pillarbox.test\"; none\r\nFrom: a@b.example\r\n" + body,
			"From: a@b.example\r\n" + body},
		{"no space before semicolon", "Authentication-Results: mx.pillarbox.test;none\r\n" + body, body},
		{"others kept", "Authentication-Results: mx.google.test; dkim=pass\r\nAuthentication-Results: mx.pillarbox.test.evil; x=y\r\nFrom: a@b.example\r\n" + body,
			"Authentication-Results: mx.google.test; dkim=pass\r\nAuthentication-Results: mx.pillarbox.test.evil; x=y\r\nFrom: a@b.example\r\n" + body},
		{"LF only", "Authentication-Results: mx.pillarbox.test; dkim=pass\nFrom: a@b.example\n\nAuthentication-Results: mx.pillarbox.test\n",
			"From: a@b.example\n\nAuthentication-Results: mx.pillarbox.test\n"},
		{"no separator", "From: a@b.example\r\nAuthentication-Results: mx.pillarbox.test; none", "From: a@b.example\r\n"},
		{"several", "Authentication-Results: mx.pillarbox.test; a\r\nX: 1\r\nAuthentication-Results: mx.pillarbox.test; b\r\n" + body,
			"X: 1\r\n" + body},
		{"nothing", "From: a@b.example\r\n" + body, "From: a@b.example\r\n" + body},
	} {
		if got := string(StripAuthResults([]byte(tc.in), id)); got != tc.want {
			t.Errorf("%s: got\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
}

// TestStripAuthResultsBounded: fields past the header limit are left, so a
// huge header costs one bounded pass.
func TestStripAuthResultsBounded(t *testing.T) {
	t.Parallel()
	pad := "X-Pad: " + strings.Repeat("a", 1000) + "\r\n"
	big := strings.Repeat(pad, (verifyMaxHeaderBytes/len(pad))+1)
	in := "Authentication-Results: mx.pillarbox.test; a\r\n" + big + "Authentication-Results: mx.pillarbox.test; b\r\n\r\nbody"
	want := big + "Authentication-Results: mx.pillarbox.test; b\r\n\r\nbody"
	if got := string(StripAuthResults([]byte(in), "mx.pillarbox.test")); got != want {
		t.Errorf("got %d bytes, want %d", len(got), len(want))
	}
}

func FuzzStripAuthResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.pillarbox.test; dkim=pass\r\nFrom: a@b.example\r\n\r\nbody"), "mx.pillarbox.test")
	f.Add([]byte("Authentication-Results: (c (nested) \\) x) \"mx\\\"\" ; a\n x\n\n"), "mx\"")
	f.Add([]byte("Authentication-Results:"), "")
	f.Add([]byte("\r\n\r\nAuthentication-Results: mx; a\r\n"), "mx")
	f.Fuzz(func(t *testing.T, msg []byte, id string) {
		out := StripAuthResults(msg, id)
		if len(out) > len(msg) {
			t.Fatalf("output grew: %d > %d", len(out), len(msg))
		}
		// The body, and all that follows the header limit, is untouched.
		_, end, _ := verifyHeader(msg, verifyMaxHeaderBytes)
		if !bytes.HasSuffix(out, msg[end:]) {
			t.Fatalf("body changed")
		}
		// Nothing that claims id is left: stripping again changes nothing.
		if again := StripAuthResults(out, id); !bytes.Equal(again, out) {
			t.Fatalf("a second pass removed more:\n%q\n%q", out, again)
		}
	})
}

func TestHeaderParsesBack(t *testing.T) {
	t.Parallel()
	v := Verdict{
		SPF: SPFOutcome{Result: SPFSoftFail, Domain: "helo.example", Helo: true, Reason: "matched all"},
		DKIM: []DKIMOutcome{
			{Domain: "example.org", Selector: "s1", Result: DKIMFail, Reason: "body hash did not verify"},
			// Selector and domain come from the message: nothing in them may
			// break the field.
			{Domain: "ex\"ample\\.org", Selector: "s2\r\nX-Injected: yes\r\n\r\n", Result: DKIMPermError, Reason: "bad \"tag\""},
		},
		DMARC:      DMARCOutcome{Result: DMARCFail, Domain: "example.org", Reason: "no aligned SPF or DKIM pass"},
		authservID: "mx.pillarbox.test",
	}
	h := v.Header()
	if !strings.HasSuffix(h, "\r\n") || strings.Count(h, "\r\n") != 5 || strings.Contains(h, "\r\n\r\n") {
		t.Fatalf("Header() is not one folded field:\n%q", h)
	}
	for _, line := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")[1:] {
		if !strings.HasPrefix(line, "\t") {
			t.Errorf("line %q is not a continuation", line)
		}
	}
	name, value, _ := strings.Cut(h, ":")
	if name != "Authentication-Results" {
		t.Fatalf("field name %q", name)
	}
	id, results, err := authres.Parse(strings.ReplaceAll(strings.TrimSpace(value), "\r\n\t", " "))
	if err != nil || id != "mx.pillarbox.test" || len(results) != 4 {
		t.Fatalf("Parse = %q, %d results, %v\n%s", id, len(results), err, h)
	}
	if r, ok := results[0].(*authres.SPFResult); !ok || r.Value != authres.ResultSoftFail || r.Helo != "helo.example" {
		t.Errorf("spf = %#v", results[0])
	}
	if r, ok := results[1].(*authres.DKIMResult); !ok || r.Value != authres.ResultFail || r.Domain != "example.org" {
		t.Errorf("dkim = %#v", results[1])
	}
	if r, ok := results[3].(*authres.DMARCResult); !ok || r.Value != authres.ResultFail || r.From != "example.org" {
		t.Errorf("dmarc = %#v", results[3])
	}
	if got := string(StripAuthResults([]byte(h+"From: a@b.example\r\n\r\n"), "mx.pillarbox.test")); got != "From: a@b.example\r\n\r\n" {
		t.Errorf("our own header is not stripped: %q", got)
	}
}

func TestHeaderUnsigned(t *testing.T) {
	t.Parallel()
	v := Verdict{SPF: SPFOutcome{Result: SPFNone, Domain: "x.example"}, DMARC: DMARCOutcome{Result: DMARCNone, Domain: "x.example"}, authservID: "mx"}
	want := "Authentication-Results: mx;\r\n\tspf=none smtp.mailfrom=x.example;\r\n\tdkim=none;\r\n\tdmarc=none header.from=x.example\r\n"
	if got := v.Header(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// FuzzVerdictHeader: whatever a message puts in d=, s= or a reason, Header
// stays one field of four lines that parses back with its results.
func FuzzVerdictHeader(f *testing.F) {
	f.Add("example.org", "s1", "body hash did not verify")
	f.Add("ex;ample", "s=\"x\"\r\n\r\nX: y", "a (comment) b=c; d")
	f.Fuzz(func(t *testing.T, d, s, reason string) {
		v := Verdict{
			SPF:        SPFOutcome{Result: SPFFail, Domain: d, Reason: reason},
			DKIM:       []DKIMOutcome{{Domain: d, Selector: s, Result: DKIMFail, Reason: reason}},
			DMARC:      DMARCOutcome{Result: DMARCFail, Domain: d, Reason: reason},
			authservID: "mx.pillarbox.test",
		}
		h := v.Header()
		if strings.Count(h, "\r\n") != 4 || strings.Count(h, "\n") != 4 || strings.Count(h, "\r") != 4 {
			t.Fatalf("not one field of four lines: %q", h)
		}
		_, value, _ := strings.Cut(h, ":")
		id, results, err := authres.Parse(strings.ReplaceAll(strings.TrimSpace(value), "\r\n\t", " "))
		if err != nil || id != "mx.pillarbox.test" || len(results) != 3 {
			t.Fatalf("Parse = %q, %d results, %v\n%q", id, len(results), err, h)
		}
	})
}
