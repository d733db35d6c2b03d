package mailbox

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"alice@example.org", "Alice+Tag@Example.ORG", "user@bücher.example", `"john doe"@example.org`,
		`"a\"b@c"@example.org`, "用户@例子.广告", "a@b@c", "@x", "x@", "x@[127.0.0.1]", "x@example.org.",
		"x@xn--.org", "x@ｅｘａｍｐｌｅ.com", "İ@example.org", "\u212a@example.org", "x@a\u200db.example",
		" x@y.example ", "x\x00@y.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			if a != (Address{}) {
				t.Errorf("ParseAddress(%q) = %#v with error %v", s, a, err)
			}
			if !strings.HasPrefix(err.Error(), "mailbox: ") || strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("ParseAddress(%q): error %q is not one prefixed line", s, err)
			}
			return
		}
		for i := 0; i < len(a.Domain); i++ {
			if c := a.Domain[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
				t.Fatalf("ParseAddress(%q): domain %q has %q", s, a.Domain, c)
			}
		}
		if a.Local == "" || len(a.Local) > maxLocalLen || len(a.String()) > maxAddressLen {
			t.Fatalf("ParseAddress(%q) = %#v: bad lengths", s, a)
		}
		again, err := ParseAddress(a.String())
		if err != nil {
			t.Fatalf("ParseAddress(%q) = %q, which does not parse again: %v", s, a, err)
		}
		if again != a {
			t.Fatalf("ParseAddress(%q) = %#v, then %#v", s, a, again)
		}
		if d, err := NormalizeDomain(a.Domain); err != nil || d != a.Domain {
			t.Fatalf("NormalizeDomain(%q) = %q, %v", a.Domain, d, err)
		}
		if b := a.Base(); b.Domain != a.Domain || !strings.HasPrefix(a.Local, b.Local) {
			t.Fatalf("%#v.Base() = %#v", a, b)
		}
	})
}

func FuzzAnalyze(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(mimeDir, "*.eml"))
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{
		"",
		"\r\n",
		"Subject: x",
		"Subject: x\r\n continued\r\n\r\nbody",
		" leading continuation\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nx\n--b--\n",
		"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: s\r\n\r\n--d--",
		"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
		"Content-Type: text/html; charset=iso-2022-jp\r\nContent-Transfer-Encoding: base64\r\n\r\nGyRC",
		"Content-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=FF=FE=",
		"From: a:b,c;d<e@f>,(g<h>)\"i\r\nTo: =?utf-8?q?x?= =?",
		"Content-Type: ; ;=;\"\r\nContent-Disposition: ;\r\n\r\n",
		"From: <@a,@b:c@d>, g: N <@[x:y],,@e :\"f g\"@h>;\r\nTo: <@a b@c>, <@:>, <@x:@y:z@w\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	small := Limits{MaxDepth: 3, MaxParts: 8, MaxHeaderBytes: 64, MaxTextBytes: 32}
	f.Fuzz(func(t *testing.T, raw []byte) {
		orig := bytes.Clone(raw)
		m := Analyze(raw, Limits{})
		if !bytes.Equal(raw, orig) {
			t.Fatal("Analyze modified its input")
		}
		if err := checkMeta(raw, m, Limits{}); err != nil {
			t.Fatal(err)
		}
		j1, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		j2, _ := json.Marshal(Analyze(raw, Limits{}))
		if !bytes.Equal(j1, j2) {
			t.Fatalf("Analyze is not deterministic:\n%s\n%s", j1, j2)
		}
		var back Meta
		if err := json.Unmarshal(j1, &back); err != nil {
			t.Fatal(err)
		}
		if j3, _ := json.Marshal(&back); !bytes.Equal(j1, j3) {
			t.Fatalf("JSON changed on a round trip:\n%s\n%s", j1, j3)
		}

		ms := Analyze(raw, small)
		if err := checkMeta(raw, ms, small); err != nil {
			t.Fatalf("small limits: %v", err)
		}
		if depth(ms.Structure) > small.MaxDepth+1 {
			t.Fatalf("small limits: depth %d", depth(ms.Structure))
		}
	})
}
