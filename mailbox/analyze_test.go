package mailbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// mimeDir holds the .eml fixtures, shared with other packages.
const mimeDir = "../testdata/mime"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(mimeDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// analyzeFixture analyses a fixture and checks the invariants.
func analyzeFixture(t *testing.T, name string) ([]byte, *Meta) {
	t.Helper()
	raw := readFixture(t, name)
	m := Analyze(raw, Limits{})
	if err := checkMeta(raw, m, Limits{}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if m.Truncated {
		t.Errorf("%s: Truncated", name)
	}
	return raw, m
}

func body(raw []byte, p *Part) string {
	return string(raw[p.BodyStart:p.End])
}

func header(raw []byte, p *Part) string {
	return string(raw[p.HeaderStart:p.BodyStart])
}

// find is Find that fails the test when there is no part.
func find(t *testing.T, root *Part, path ...int) *Part {
	t.Helper()
	p := root.Find(path)
	if p == nil {
		t.Fatalf("Find(%v) = nil", path)
	}
	return p
}

func wantPart(t *testing.T, p *Part, typ, subtype, encoding string) {
	t.Helper()
	if p.Type != typ || p.Subtype != subtype || p.Encoding != encoding {
		t.Errorf("part %s/%s %s, want %s/%s %s", p.Type, p.Subtype, p.Encoding, typ, subtype, encoding)
	}
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func wantNotContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			t.Errorf("%s contains %q:\n%s", what, sub, s)
		}
	}
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAnalyzeSimple(t *testing.T) {
	t.Parallel()
	raw, m := analyzeFixture(t, "simple.eml")

	env := m.Envelope
	if want := time.Date(2025, 11, 17, 9, 14, 2, 0, time.UTC); !env.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", env.Date, want)
	}
	wantEqual(t, "Subject", env.Subject, "Lunch on Thursday?")
	alice := []EnvAddress{{Name: "Alice Example", Mailbox: "alice", Host: "example.org"}}
	wantEqual(t, "From", env.From, alice)
	wantEqual(t, "Sender", env.Sender, alice)
	wantEqual(t, "ReplyTo", env.ReplyTo, alice)
	wantEqual(t, "To", env.To, []EnvAddress{
		{Name: "Bob", Mailbox: "bob", Host: "example.net"},
		{Mailbox: "carol", Host: "example.net"},
	})
	wantEqual(t, "Cc", env.Cc, []EnvAddress{
		{Mailbox: "Friends"},
		{Mailbox: "dave", Host: "example.com"},
		{Name: "Eve E.", Mailbox: "eve", Host: "example.com"},
		{},
		{Mailbox: "undisclosed-recipients"},
		{},
	})
	wantEqual(t, "Bcc", env.Bcc, nil)
	wantEqual(t, "InReplyTo", env.InReplyTo, []string{"prev-1@example.net"})
	wantEqual(t, "MessageID", env.MessageID, "20251117091402.GA1234@example.org")

	root := m.Structure
	wantPart(t, root, "text", "plain", "7BIT")
	wantEqual(t, "Params", root.Params, map[string]string{"charset": "us-ascii", "format": "flowed"})
	wantBody := "Hi Bob,\r\n\r\nshall we meet at noon at the usual place?\r\n\r\nAlice\r\n"
	wantEqual(t, "body", body(raw, root), wantBody)
	wantEqual(t, "Size", root.Size, int64(len(wantBody)))
	wantEqual(t, "Lines", root.Lines, int64(5))
	if h := header(raw, root); !strings.HasPrefix(h, "Return-Path:") || !strings.HasSuffix(h, "format=flowed\r\n\r\n") {
		t.Errorf("header = %q", h)
	}

	// RFC 3501 section 6.4.5: part 1 of a non-multipart message is its body.
	if root.Find(nil) != root || root.Find([]int{1}) != root {
		t.Error("Find([]) and Find([1]) should give the message")
	}
	for _, path := range [][]int{{2}, {0}, {1, 1}, {-1}} {
		if p := root.Find(path); p != nil {
			t.Errorf("Find(%v) = %+v, want nil", path, p)
		}
	}

	wantContains(t, "HeaderText", m.HeaderText,
		"Subject: Lunch on Thursday?\n",
		"Received: from mail.example.org (mail.example.org [192.0.2.10]) by mx.example.net with ESMTPS id 4f2a9c; Mon, 17 Nov 2025 09:14:03 +0000\n",
		"Cc: Friends: dave@example.com, \"Eve E.\" <eve@example.com>;, undisclosed-recipients:;\n")
	wantEqual(t, "BodyText", m.BodyText, "Hi Bob,\n\nshall we meet at noon at the usual place?\n\nAlice\n")
}

func TestAnalyzeAlternative(t *testing.T) {
	t.Parallel()
	raw, m := analyzeFixture(t, "alternative.eml")
	wantEqual(t, "Subject", m.Envelope.Subject, "Réunion de l'équipe")
	wantEqual(t, "From", m.Envelope.From, []EnvAddress{{Name: "François Dupont", Mailbox: "francois", Host: "example.fr"}})

	root := m.Structure
	wantPart(t, root, "multipart", "alternative", "7BIT")
	wantEqual(t, "Params", root.Params, map[string]string{"boundary": "=-alt-b0undary"})
	if len(root.Children) != 2 {
		t.Fatalf("%d children, want 2", len(root.Children))
	}

	plain := find(t, root, 1)
	wantPart(t, plain, "text", "plain", "QUOTED-PRINTABLE")
	wantEqual(t, "charset", plain.Params["charset"], "utf-8")
	// The CRLF before the boundary belongs to the boundary.
	wantEqual(t, "part 1", body(raw, plain), "Bonjour =C3=A0 tous,\r\n\r\n"+
		"La r=C3=A9union aura lieu au caf=C3=A9 demain. Une tr=C3=A8s longue ligne q=\r\n"+
		"ui continue ici.\r\n")
	wantEqual(t, "part 1 Lines", plain.Lines, int64(4))
	wantEqual(t, "part 1 MIME", header(raw, plain),
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")

	html := find(t, root, 2)
	wantPart(t, html, "text", "html", "BASE64")
	wantEqual(t, "part 2 Lines", html.Lines, int64(3))
	decoded := string(decodeB64(t, body(raw, html)))
	wantContains(t, "decoded part 2", decoded, "<p>La réunion aura lieu au <b>café</b> demain.</p>")
	if !strings.HasSuffix(body(raw, html), "==") && !strings.HasSuffix(body(raw, html), "=") {
		// The base64 ends right before the close delimiter's CRLF.
		last := body(raw, html)[len(body(raw, html))-1]
		if !isB64Char(last) {
			t.Errorf("part 2 ends with %q", last)
		}
	}

	wantContains(t, "BodyText", m.BodyText,
		"Bonjour à tous,",
		"La réunion aura lieu au café demain.",
		"Une très longue ligne qui continue ici.", // soft line break joined
	)
	wantNotContains(t, "BodyText", m.BodyText,
		"multi-part message", "epilogue", // preamble and epilogue
		"invisible", "color", "<p>", "&agrave;", // script, style, tags, references
	)
}

func isB64Char(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

func TestAnalyzeLatin1(t *testing.T) {
	t.Parallel()
	raw, m := analyzeFixture(t, "latin1.eml")
	env := m.Envelope
	wantEqual(t, "Subject", env.Subject, "Grüße aus München")
	wantEqual(t, "From", env.From, []EnvAddress{{Name: "Jörg Müller", Mailbox: "joerg", Host: "example.de"}})
	wantEqual(t, "To", env.To, []EnvAddress{{Name: "André", Mailbox: "andre", Host: "example.de"}})

	root := m.Structure
	wantPart(t, root, "text", "plain", "8BIT")
	wantEqual(t, "Params", root.Params, map[string]string{"charset": "ISO-8859-1"})
	wantEqual(t, "body", body(raw, root), "Hallo Andr\xe9,\r\n\r\ndas Fu\xdfballspiel war gro\xdfartig. Sch\xf6ne Gr\xfc\xdfe!\r\n")

	wantContains(t, "HeaderText", m.HeaderText, "Subject: Grüße aus München\n", "From: Jörg Müller <joerg@example.de>\n")
	wantContains(t, "BodyText", m.BodyText, "Hallo André,", "Fußballspiel", "großartig", "Schöne Grüße!")
}

func TestAnalyzeJapanese(t *testing.T) {
	t.Parallel()
	_, m := analyzeFixture(t, "japanese.eml")
	wantEqual(t, "Subject", m.Envelope.Subject, "会議の件")
	wantEqual(t, "From", m.Envelope.From, []EnvAddress{{Name: "山田太郎", Mailbox: "taro", Host: "example.jp"}})
	wantPart(t, m.Structure, "text", "plain", "7BIT")
	wantEqual(t, "Lines", m.Structure.Lines, int64(4))
	wantContains(t, "HeaderText", m.HeaderText, "Subject: 会議の件\n", "From: 山田太郎 <taro@example.jp>\n")
	wantEqual(t, "BodyText", m.BodyText, "花子さん\n\n明日の会議は十時からです。\nよろしくお願いします。\n")
}

func TestAnalyzeForward(t *testing.T) {
	t.Parallel()
	raw, m := analyzeFixture(t, "forward.eml")
	root := m.Structure
	wantPart(t, root, "multipart", "mixed", "7BIT")

	wantEqual(t, "part 1", body(raw, find(t, root, 1)), "See the forwarded message below.")

	fwd := find(t, root, 2)
	wantPart(t, fwd, "message", "rfc822", "7BIT")
	wantEqual(t, "Description", fwd.Description, "Forwarded message")
	wantEqual(t, "Disposition", fwd.Disposition, "inline")
	if fwd.Envelope == nil || fwd.Message == nil {
		t.Fatal("message/rfc822 part without Envelope or Message")
	}
	wantEqual(t, "enclosed Subject", fwd.Envelope.Subject, "Quarterly report")
	wantEqual(t, "enclosed From", fwd.Envelope.From, []EnvAddress{{Name: "Carol", Mailbox: "carol", Host: "example.com"}})
	wantEqual(t, "enclosed MessageID", fwd.Envelope.MessageID, "report-7@example.com")
	wantEqual(t, "Lines", fwd.Lines, int64(strings.Count(body(raw, fwd), "\n")))

	msg := fwd.Message
	if msg.HeaderStart != fwd.BodyStart || msg.End != fwd.End {
		t.Errorf("enclosed message at [%d,%d), part body at [%d,%d)", msg.HeaderStart, msg.End, fwd.BodyStart, fwd.End)
	}
	// BODY[2.HEADER] is the enclosed message's header.
	if h := header(raw, msg); !strings.HasPrefix(h, "From: Carol <carol@example.com>\r\n") || !strings.HasSuffix(h, "boundary=\"inner\"\r\n\r\n") {
		t.Errorf("enclosed header = %q", h)
	}
	if !strings.HasSuffix(body(raw, fwd), "--inner--") {
		t.Errorf("part 2 body ends with %q", body(raw, fwd)[len(body(raw, fwd))-20:])
	}

	// Numbers below a message/rfc822 part address the enclosed message.
	wantEqual(t, "part 2.1", body(raw, find(t, root, 2, 1)), "Numbers attached. Revenue is up 12%.")
	pdf := find(t, root, 2, 2)
	wantPart(t, pdf, "application", "pdf", "BASE64")
	wantEqual(t, "Params", pdf.Params, map[string]string{"name": "report.pdf"})
	wantEqual(t, "DispositionParams", pdf.DispositionParams, map[string]string{"filename": "Q3 résumé.pdf"})
	wantEqual(t, "pdf", string(decodeB64(t, body(raw, pdf))), "%PDF-1.4\n%\xc7\xec\x8f\xa2\n1 0 obj\n<</Type/Catalog>>\nendobj\n")
	wantEqual(t, "pdf MIME", header(raw, pdf), "Content-Type: application/pdf; name=\"report.pdf\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename*=UTF-8''Q3%20r%C3%A9sum%C3%A9.pdf\r\n\r\n")
	if pdf.Lines != 0 {
		t.Errorf("Lines = %d for a non-text part", pdf.Lines)
	}

	for _, path := range [][]int{{3}, {2, 3}, {1, 1}, {2, 1, 1}, {2, 2, 1}} {
		if p := root.Find(path); p != nil {
			t.Errorf("Find(%v) = %+v, want nil", path, p)
		}
	}

	wantContains(t, "BodyText", m.BodyText, "See the forwarded message below.",
		"Subject: Quarterly report", "From: Carol <carol@example.com>", "Revenue is up 12%.")
	wantNotContains(t, "BodyText", m.BodyText, "PDF", "Message-ID")
	wantNotContains(t, "HeaderText", m.HeaderText, "Carol")

	// The parts' header fields, the enclosed message's among them, are
	// PartText, for SEARCH TEXT; the message's own are not.
	wantContains(t, "PartText", m.PartText, "Content-Type: text/plain; charset=utf-8\n",
		"Content-Description: Forwarded message\n", "Message-ID: <report-7@example.com>\n",
		`Content-Type: application/pdf; name="report.pdf"`+"\n",
		// The file name that RFC 2231 encodes, decoded on a line of its own.
		"\nfilename=Q3 résumé.pdf\n")
	wantNotContains(t, "PartText", m.PartText, "Fwd:", "fwd-1@example.net", "outer", "Revenue", "name=report.pdf")
}

func TestAnalyzeNested(t *testing.T) {
	t.Parallel()
	raw, m := analyzeFixture(t, "nested.eml")
	root := m.Structure
	wantPart(t, root, "multipart", "mixed", "7BIT")
	wantEqual(t, "Params", root.Params, map[string]string{"boundary": "mixed-7d1"})

	alt := find(t, root, 1)
	wantPart(t, alt, "multipart", "alternative", "7BIT")
	// The first boundary line has trailing white space.
	if !strings.HasPrefix(header(raw, alt), "Content-Type: multipart/alternative;") {
		t.Errorf("part 1 MIME = %q", header(raw, alt))
	}
	if !alt.IsMultipart() || root.Find([]int{1, 3}) != nil {
		t.Error("part 1 should be a multipart with two parts")
	}

	plain := find(t, root, 1, 1)
	wantPart(t, plain, "text", "plain", "7BIT")
	wantEqual(t, "Params", plain.Params, map[string]string{"charset": "us-ascii"})
	wantEqual(t, "part 1.1", body(raw, plain), "Thank you for your order.\r\nTotal: 42 EUR")
	wantEqual(t, "part 1.1 Lines", plain.Lines, int64(1))

	html := find(t, root, 1, 2)
	wantPart(t, html, "text", "html", "QUOTED-PRINTABLE")
	wantEqual(t, "part 1.2", body(raw, html), "<p>Thank you for your order.</p><p>Total: 42 =A4</p>")

	img := find(t, root, 2)
	wantPart(t, img, "image", "png", "BASE64")
	wantEqual(t, "Params", img.Params, map[string]string{"name": "logo of the shop.png"}) // RFC 2231 continuation
	wantEqual(t, "ID", img.ID, "<logo@shop.example>")
	wantEqual(t, "Description", img.Description, "Shop logo")
	wantEqual(t, "MD5", img.MD5, "Q2hlY2sgSW50ZWdyaXR5IQ==")
	wantEqual(t, "Disposition", img.Disposition, "attachment")
	wantEqual(t, "DispositionParams", img.DispositionParams, map[string]string{"filename": "logo.png", "size": "172"})
	wantEqual(t, "Language", img.Language, []string{"en", "de"})
	wantEqual(t, "Location", img.Location, "https://shop.example/static/logo.png")
	var png []byte
	for range 2 {
		for i := 0; i < 256; i += 3 {
			png = append(png, byte(i))
		}
	}
	if got := decodeB64(t, body(raw, img)); !bytes.Equal(got, png) {
		t.Errorf("decoded part 2 = %x, want %x", got, png)
	}
	if img.End != int64(len(raw))-int64(len("\r\n--mixed-7d1--\r\n")) {
		t.Errorf("part 2 ends at %d of %d", img.End, len(raw))
	}

	// ISO-8859-15 has the euro sign at 0xA4.
	wantEqual(t, "BodyText", m.BodyText, "Thank you for your order.\nTotal: 42 EUR\nThank you for your order.\nTotal: 42 €\n")
}

func TestAnalyzeBrokenFixture(t *testing.T) {
	t.Parallel()
	raw, m := analyzeFixture(t, "broken.eml")
	env := m.Envelope
	if !env.Date.IsZero() {
		t.Errorf("Date = %v, want zero", env.Date)
	}
	wantEqual(t, "Subject", env.Subject, "Café crème") // 8-bit, taken as Latin-1
	wantEqual(t, "MessageID", env.MessageID, "no-brackets@example.com")
	wantEqual(t, "To", env.To, nil)
	if len(env.From) == 0 || env.From[0] != (EnvAddress{Name: "Mallory", Mailbox: "mallory", Host: "example.com"}) {
		t.Errorf("From = %+v", env.From)
	}
	for _, a := range env.From {
		if a.Host == "" {
			t.Errorf("From has a group marker: %+v", env.From)
		}
	}
	wantContains(t, "HeaderText", m.HeaderText, "Subject: Café crème\n", "X-Junkÿ: 8-bit name\n")

	root := m.Structure
	wantPart(t, root, "multipart", "mixed", "7BIT")
	if len(root.Children) != 6 {
		t.Fatalf("%d children, want 6", len(root.Children))
	}
	tests := []struct {
		typ, subtype, encoding, body string
	}{
		{"text", "plain", "X-UNKNOWN", "missing subtype and unknown encoding"},
		{"text", "plain", "7BIT", "unknown charset: na\xefve"},
		{"text", "plain", "7BIT", "This part has no header and no separator line."},
		{"text", "plain", "7BIT", "multipart without boundary"},
		{"text", "plain", "7BIT", "no delimiter for the inner boundary"},
		{"application", "octet-stream", "BASE64", "AAECAwQF\n"}, // no close delimiter: runs to the end
	}
	for i, tt := range tests {
		p := root.Children[i]
		wantPart(t, p, tt.typ, tt.subtype, tt.encoding)
		wantEqual(t, fmt.Sprintf("part %d", i+1), body(raw, p), tt.body)
	}
	if p := root.Children[2]; p.HeaderStart != p.BodyStart {
		t.Errorf("part 3 has a header: %q", header(raw, p))
	}
	wantEqual(t, "part 2 charset", root.Children[1].Params["charset"], "x-no-such-charset")
	if root.Children[5].End != int64(len(raw)) {
		t.Errorf("last part ends at %d, want %d", root.Children[5].End, len(raw))
	}
	wantContains(t, "BodyText", m.BodyText, "unknown charset: naïve", "This part has no header")
	wantNotContains(t, "BodyText", m.BodyText, "preamble")
}

// TestAnalyzeCases covers structures the fixtures do not.
func TestAnalyzeCases(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, raw []byte, m *Meta)
	tests := []struct {
		name  string
		raw   string
		check check
	}{
		{"empty", "", func(t *testing.T, raw []byte, m *Meta) {
			wantPart(t, m.Structure, "text", "plain", "7BIT")
			wantEqual(t, "End", m.Structure.End, int64(0))
		}},
		{"no header", "just some text\r\nand more\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "BodyStart", m.Structure.BodyStart, int64(0))
			wantEqual(t, "BodyText", m.BodyText, "just some text\nand more\n")
		}},
		{"only a header", "Subject: hi\r\nFrom: a@example.org", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "BodyStart", m.Structure.BodyStart, int64(len(raw)))
			wantEqual(t, "Subject", m.Envelope.Subject, "hi")
			wantEqual(t, "From", m.Envelope.From, []EnvAddress{{Mailbox: "a", Host: "example.org"}})
		}},
		{"no separator", "Subject: hi\r\nHello there\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "body", body(raw, m.Structure), "Hello there\r\n")
			wantEqual(t, "Subject", m.Envelope.Subject, "hi")
		}},
		{"empty body", "Subject: hi\r\n\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "BodyStart", m.Structure.BodyStart, int64(len(raw)))
		}},
		{"mbox From line", "From alice@example.org Mon Nov 17 10:14:02 2025\nSubject: hi\n\nbody\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "Subject", m.Envelope.Subject, "hi")
			wantEqual(t, "body", body(raw, m.Structure), "body\n")
		}},
		{"obsolete white space before colon", "Subject : hi\n\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "Subject", m.Envelope.Subject, "hi")
		}},
		{"bare LF multipart", "Content-Type: multipart/mixed; boundary=x\n\n--x\n\none\n--x\nContent-Type: text/html\n\n<b>two</b>\n--x--\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "part 1", body(raw, find(t, m.Structure, 1)), "one")
			wantEqual(t, "part 2", body(raw, find(t, m.Structure, 2)), "<b>two</b>")
			wantEqual(t, "BodyText", m.BodyText, "one\ntwo")
		}},
		{"empty parts", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n\r\n--x--", func(t *testing.T, raw []byte, m *Meta) {
			if len(m.Structure.Children) != 2 {
				t.Fatalf("%d children, want 2", len(m.Structure.Children))
			}
			for _, p := range m.Structure.Children {
				wantEqual(t, "Size", p.Size, int64(0))
			}
		}},
		{"boundary is a prefix of a line", "Content-Type: multipart/mixed; boundary=abc\r\n\r\n--abc\r\n\r\n--abcdef\r\n--abc-\r\n--abc--\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "part 1", body(raw, find(t, m.Structure, 1)), "--abcdef\r\n--abc-")
		}},
		{"boundary not at line start", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx --b\r\n--b--\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "part 1", body(raw, find(t, m.Structure, 1)), "x --b")
		}},
		{"only a close delimiter", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantPart(t, m.Structure, "text", "plain", "7BIT")
		}},
		{"multipart/digest", "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n--d\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--d--\r\n", func(t *testing.T, raw []byte, m *Meta) {
			p1 := find(t, m.Structure, 1)
			wantPart(t, p1, "message", "rfc822", "7BIT")
			if p1.Envelope == nil || p1.Envelope.Subject != "one" {
				t.Errorf("part 1 envelope = %+v", p1.Envelope)
			}
			wantEqual(t, "part 1.1", body(raw, find(t, m.Structure, 1, 1)), "body one")
			wantPart(t, find(t, m.Structure, 2), "text", "plain", "7BIT")
		}},
		{"top-level message/rfc822", "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body", func(t *testing.T, raw []byte, m *Meta) {
			root := m.Structure
			if root.Find([]int{1}) != root {
				t.Error("Find([1]) should be the message")
			}
			wantEqual(t, "part 1.1", body(raw, find(t, root, 1, 1)), "inner body")
			wantEqual(t, "Lines", root.Lines, int64(2))
		}},
		{"base64 message/rfc822", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp4\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantPart(t, m.Structure, "application", "octet-stream", "BASE64")
		}},
		{"invalid content type", "Content-Type: application-x-gzip; name=\"a.gz\"\r\n\r\nblah", func(t *testing.T, raw []byte, m *Meta) {
			wantPart(t, m.Structure, "text", "plain", "7BIT")
			wantEqual(t, "Params", m.Structure.Params, map[string]string{"name": "a.gz", "charset": "us-ascii"})
		}},
		{"broken parameters", "Content-Type: text/plain; charset=\"utf-8\"; charset=latin1; =x; name=\"a\\\"b\r\n\r\nx", func(t *testing.T, raw []byte, m *Meta) {
			wantPart(t, m.Structure, "text", "plain", "7BIT")
			wantEqual(t, "Params", m.Structure.Params, map[string]string{"charset": "utf-8", "name": `a"b`})
		}},
		{"encoded parameter", "Content-Type: application/octet-stream; name=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?=\"\r\n\r\nx", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "name", m.Structure.Params["name"], "résumé.pdf")
		}},
		{"addresses", "From: =?utf-8?q?J=C3=BCrgen?= <j@example.de> (work)\r\n" +
			"To: x@y.example, , broken <>, \"Quoted, Name\" <q@example.org>, <@relay.example:route@example.org>, mailer-daemon\r\n" +
			"Cc: =?utf-8?q?a:b?= <ab@example.org>\r\n" +
			"Bcc: :;, undisclosed recipients: ;\r\n" +
			"Sender: \r\nReply-To: list@example.org\r\n\r\n", func(t *testing.T, raw []byte, m *Meta) {
			env := m.Envelope
			wantEqual(t, "From", env.From, []EnvAddress{{Name: "Jürgen", Mailbox: "j", Host: "example.de"}})
			wantEqual(t, "Sender", env.Sender, env.From)
			wantEqual(t, "ReplyTo", env.ReplyTo, []EnvAddress{{Mailbox: "list", Host: "example.org"}})
			wantEqual(t, "To", env.To, []EnvAddress{
				{Mailbox: "x", Host: "y.example"},
				{Name: "Quoted, Name", Mailbox: "q", Host: "example.org"},
				{Route: "@relay.example", Mailbox: "route", Host: "example.org"},
				{Mailbox: "mailer-daemon", Host: missingHost},
			})
			wantEqual(t, "Cc", env.Cc, []EnvAddress{{Name: "a:b", Mailbox: "ab", Host: "example.org"}})
			wantEqual(t, "Bcc", env.Bcc, []EnvAddress{{Mailbox: "undisclosed recipients"}, {}})
		}},
		{"message ids", "Message-ID: (comment) <a@b.example>\r\nIn-Reply-To: \"x <no@no>\" <one@example.org>\r\n <two@ex\r\n ample.org>\r\n\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "MessageID", m.Envelope.MessageID, "a@b.example")
			wantEqual(t, "InReplyTo", m.Envelope.InReplyTo, []string{"one@example.org", "two@example.org"})
		}},
		{"first of duplicate fields", "Subject: one\r\nSubject: two\r\nContent-Type: text/html\r\nContent-Type: image/png\r\n\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "Subject", m.Envelope.Subject, "one")
			wantPart(t, m.Structure, "text", "html", "7BIT")
		}},
		{"unknown charset in subject", "Subject: =?x-nope?q?abc?=\r\n\r\n", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "Subject", m.Envelope.Subject, "=?x-nope?q?abc?=")
		}},
		{"lenient base64 and quoted-printable", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs bG8=\r\nd29y\r\nbGQ\r\n--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc =ZZ d=\r\n--b--", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "BodyText", m.BodyText, "helloworld\na=bc =ZZ d")
		}},
		{"html", "Content-Type: text/html\r\n\r\n<!DOCTYPE html><!-- note --><TITLE>T</TITLE><STYLE>x{}</STYLE><p>a&amp;b &lt;c&gt;</p>\r\n\r\n<div>d  e</div><br>f<script src=x></script>g < h", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "BodyText", m.BodyText, "T\na&b <c>\nd e\nfg < h")
		}},
		{"html without tags", "Content-Type: text/html\r\n\r\na<b and c<d", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "BodyText", m.BodyText, "a<b and c<d")
		}},
		{"unknown charset body", "Content-Type: text/plain; charset=x-nope\r\n\r\nna\xefve", func(t *testing.T, raw []byte, m *Meta) {
			wantEqual(t, "BodyText", m.BodyText, "naïve")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := []byte(tt.raw)
			m := Analyze(raw, Limits{})
			if err := checkMeta(raw, m, Limits{}); err != nil {
				t.Fatal(err)
			}
			tt.check(t, raw, m)
		})
	}
}

func TestAnalyzeLimits(t *testing.T) {
	t.Parallel()
	t.Run("depth", func(t *testing.T) {
		t.Parallel()
		var b strings.Builder
		const n = 100
		for i := range n {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("\r\ndeep text\r\n")
		raw := []byte(b.String())
		lim := Limits{MaxDepth: 10}
		m := Analyze(raw, lim)
		if err := checkMeta(raw, m, lim); err != nil {
			t.Fatal(err)
		}
		if !m.Truncated {
			t.Error("not Truncated")
		}
		if d := depth(m.Structure); d > lim.MaxDepth+1 {
			t.Errorf("depth %d", d)
		}
		m = Analyze(raw, Limits{})
		if d := depth(m.Structure); d != 33 {
			t.Errorf("depth %d with the default limit, want 33", d)
		}
	})
	t.Run("enclosed messages", func(t *testing.T) {
		t.Parallel()
		raw := []byte(strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 5000) + "Subject: deep\r\n\r\ntext")
		m := Analyze(raw, Limits{})
		if err := checkMeta(raw, m, Limits{}); err != nil {
			t.Fatal(err)
		}
		if !m.Truncated || depth(m.Structure) > 33 {
			t.Errorf("Truncated %v, depth %d", m.Truncated, depth(m.Structure))
		}
	})
	t.Run("part headers", func(t *testing.T) {
		t.Parallel()
		part := "--b\r\nContent-Type: text/plain; name=part.txt\r\nContent-Description: a part of many\r\n\r\nx\r\n"
		raw := []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat(part, 500) + "--b--\r\n")
		lim := Limits{MaxHeaderBytes: 1000}
		m := Analyze(raw, lim)
		if len(m.PartText) > lim.MaxHeaderBytes || len(m.PartText) < lim.MaxHeaderBytes-100 || !m.Truncated {
			t.Errorf("PartText of %d octets, Truncated %v; want at most %d, and Truncated", len(m.PartText), m.Truncated, lim.MaxHeaderBytes)
		}
		if !strings.HasSuffix(m.PartText, "\n") {
			t.Errorf("PartText ends inside a field: %q", m.PartText[len(m.PartText)-20:])
		}
	})
	t.Run("parts", func(t *testing.T) {
		t.Parallel()
		raw := []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n\r\nx\r\n", 5000) + "--b--\r\n")
		lim := Limits{MaxParts: 100}
		m := Analyze(raw, lim)
		if err := checkMeta(raw, m, lim); err != nil {
			t.Fatal(err)
		}
		if !m.Truncated || countParts(m.Structure) != 100 {
			t.Errorf("Truncated %v, %d parts", m.Truncated, countParts(m.Structure))
		}
	})
	t.Run("header", func(t *testing.T) {
		t.Parallel()
		raw := []byte("Subject: first\r\nX-Long: " + strings.Repeat("x", 200) + "\r\n" +
			strings.Repeat("X-Many: y\r\n", 100) + "From: late@example.org\r\n\r\nbody")
		lim := Limits{MaxHeaderBytes: 100}
		m := Analyze(raw, lim)
		if err := checkMeta(raw, m, lim); err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "Subject", m.Envelope.Subject, "first")
		wantEqual(t, "From", m.Envelope.From, nil)
		wantEqual(t, "body", body(raw, m.Structure), "body")
		if !m.Truncated {
			t.Error("not Truncated")
		}
	})
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		raw := []byte("Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("é", 100))
		lim := Limits{MaxTextBytes: 11}
		m := Analyze(raw, lim)
		if err := checkMeta(raw, m, lim); err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "BodyText", m.BodyText, "ééééé")
		if !m.Truncated {
			t.Error("not Truncated")
		}
	})
	t.Run("addresses", func(t *testing.T) {
		t.Parallel()
		raw := []byte("To: g: " + strings.Repeat("a@example.org, ", 2000) + ";\r\n\r\n")
		m := Analyze(raw, Limits{})
		if len(m.Envelope.To) != maxEnvAddresses+1 || m.Envelope.To[len(m.Envelope.To)-1] != (EnvAddress{}) || !m.Truncated {
			t.Errorf("%d addresses, Truncated %v", len(m.Envelope.To), m.Truncated)
		}
	})
}

func depth(p *Part) int {
	d := 0
	for _, c := range p.Children {
		d = max(d, depth(c))
	}
	if p.Message != nil {
		d = max(d, depth(p.Message))
	}
	return d + 1
}

func countParts(p *Part) int {
	n := 1
	for _, c := range p.Children {
		n += countParts(c)
	}
	if p.Message != nil {
		n += countParts(p.Message)
	}
	return n
}

// TestAnalyzeTruncatedMessages cuts every fixture at every offset.
func TestAnalyzeTruncatedMessages(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(mimeDir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		raw := readFixture(t, filepath.Base(f))
		for n := range len(raw) {
			cut := raw[:n:n]
			if err := checkMeta(cut, Analyze(cut, Limits{}), Limits{}); err != nil {
				t.Fatalf("%s cut at %d: %v", f, n, err)
			}
		}
	}
}

// TestAnalyzeJSON checks that a Meta survives its trip through the store.
func TestAnalyzeJSON(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"forward.eml", "nested.eml", "broken.eml"} {
		raw := readFixture(t, name)
		m := Analyze(raw, Limits{})
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back Meta
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		b2, _ := json.Marshal(&back)
		if !bytes.Equal(b, b2) {
			t.Errorf("%s: JSON changed on a round trip:\n%s\n%s", name, b, b2)
		}
		if !back.Envelope.Date.Equal(m.Envelope.Date) {
			t.Errorf("%s: Date %v, want %v", name, back.Envelope.Date, m.Envelope.Date)
		}
		if back.Structure.Find([]int{2}) == nil {
			t.Errorf("%s: no part 2 after the round trip", name)
		}
	}
}

// TestAnalyzeCorpus runs over the MimeKit test messages, which are broken in
// many ways.
func TestAnalyzeCorpus(t *testing.T) {
	t.Parallel()
	dir := "../../shared/corpus/mimekit"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("no corpus: %v", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		m := Analyze(raw, Limits{})
		elapsed := time.Since(start)
		if err := checkMeta(raw, m, Limits{}); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
		// The bound is loose for -race and slow machines; normal figures
		// are below 5 ms for the 135 KB header of stack-overflow.txt.
		if elapsed > time.Second {
			t.Errorf("%s: Analyze took %v", e.Name(), elapsed)
		}
		if e.Name() == "stack-overflow.txt" {
			t.Logf("%s (%d octets): %v", e.Name(), len(raw), elapsed)
			wantEqual(t, "Subject", m.Envelope.Subject, "Message Subject")
			wantEqual(t, "body", strings.TrimSpace(body(raw, m.Structure)), "Message Body")
		}
	}
}

// checkMeta checks the invariants every analysis must satisfy.
func checkMeta(raw []byte, m *Meta, lim Limits) error {
	if m == nil || m.Structure == nil {
		return fmt.Errorf("no structure")
	}
	lim = lim.withDefaults()
	root := m.Structure
	if root.HeaderStart != 0 || root.End != int64(len(raw)) {
		return fmt.Errorf("root covers [%d,%d) of %d octets", root.HeaderStart, root.End, len(raw))
	}
	if len(m.BodyText) > lim.MaxTextBytes {
		return fmt.Errorf("BodyText has %d octets, limit %d", len(m.BodyText), lim.MaxTextBytes)
	}
	if len(m.HeaderText) > lim.MaxHeaderBytes {
		return fmt.Errorf("HeaderText has %d octets, limit %d", len(m.HeaderText), lim.MaxHeaderBytes)
	}
	if n := countParts(root); n > lim.MaxParts {
		return fmt.Errorf("%d parts, limit %d", n, lim.MaxParts)
	}
	if err := checkEnvelope(&m.Envelope); err != nil {
		return err
	}
	for _, s := range []string{m.HeaderText, m.BodyText} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("invalid UTF-8 in %q", s)
		}
	}
	return checkPart(raw, root, 0, int64(len(raw)), "")
}

func checkPart(raw []byte, p *Part, lo, hi int64, path string) error {
	if !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi && hi <= int64(len(raw))) {
		return fmt.Errorf("part %q: offsets %d <= %d <= %d <= %d <= %d <= %d do not hold",
			path, lo, p.HeaderStart, p.BodyStart, p.End, hi, len(raw))
	}
	if p.Size != p.End-p.BodyStart {
		return fmt.Errorf("part %q: Size %d, body has %d octets", path, p.Size, p.End-p.BodyStart)
	}
	if p.Type == "" || p.Subtype == "" || p.Encoding == "" || p.Encoding != strings.ToUpper(p.Encoding) {
		return fmt.Errorf("part %q: type %q/%q, encoding %q", path, p.Type, p.Subtype, p.Encoding)
	}
	lines := int64(bytes.Count(raw[p.BodyStart:p.End], []byte{'\n'}))
	if (p.Type == "text" || p.Message != nil) && p.Lines != lines {
		return fmt.Errorf("part %q: Lines %d, body has %d", path, p.Lines, lines)
	}
	strs := []string{p.Type, p.Subtype, p.ID, p.Description, p.Encoding, p.MD5, p.Disposition, p.Location}
	strs = append(strs, p.Language...)
	for _, m := range []map[string]string{p.Params, p.DispositionParams} {
		for k, v := range m {
			strs = append(strs, k, v)
		}
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("part %q: invalid UTF-8 in %q", path, s)
		}
	}

	isMessage := p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
	if isMessage != (p.Envelope != nil && p.Message != nil) || (p.Envelope == nil) != (p.Message == nil) {
		return fmt.Errorf("part %q: %s/%s with Envelope %v and Message %v", path, p.Type, p.Subtype, p.Envelope != nil, p.Message != nil)
	}
	if p.IsMultipart() != (len(p.Children) > 0) {
		return fmt.Errorf("part %q: %s/%s with %d children", path, p.Type, p.Subtype, len(p.Children))
	}
	if p.Message != nil {
		if err := checkEnvelope(p.Envelope); err != nil {
			return fmt.Errorf("part %q: %v", path, err)
		}
		if p.Message.HeaderStart != p.BodyStart || p.Message.End != p.End {
			return fmt.Errorf("part %q: enclosed message at [%d,%d), body at [%d,%d)", path, p.Message.HeaderStart, p.Message.End, p.BodyStart, p.End)
		}
		if err := checkPart(raw, p.Message, p.BodyStart, p.End, path+".M"); err != nil {
			return err
		}
	}
	prev := p.BodyStart
	for i, c := range p.Children {
		// Children come in order and do not overlap.
		if err := checkPart(raw, c, prev, p.End, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
			return err
		}
		prev = c.End
	}
	return nil
}

func checkEnvelope(env *Envelope) error {
	strs := []string{env.Subject, env.MessageID}
	strs = append(strs, env.InReplyTo...)
	for _, l := range [][]EnvAddress{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		for _, a := range l {
			strs = append(strs, a.Name, a.Route, a.Mailbox, a.Host)
			if a.Route != "" && (a.Route[0] != '@' || strings.ContainsAny(a.Route, " \t\r\n")) {
				return fmt.Errorf("envelope: route %q", a.Route)
			}
		}
	}
	if len(env.From) > 0 && (len(env.Sender) == 0 || len(env.ReplyTo) == 0) {
		return fmt.Errorf("envelope: Sender %v or Reply-To %v empty with From %v", env.Sender, env.ReplyTo, env.From)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("envelope: invalid UTF-8 in %q", s)
		}
	}
	if y := env.Date.Year(); !env.Date.IsZero() && (y < 1 || y > 9999) {
		return fmt.Errorf("envelope: date %v", env.Date)
	}
	return nil
}

// benchMessage returns a multipart message of about 10 KB, as a mail client
// would send it: text and HTML alternatives and a small attachment.
func benchMessage() []byte {
	var b bytes.Buffer
	b.WriteString("Return-Path: <alice@example.org>\r\n" +
		"Received: from mail.example.org (mail.example.org [192.0.2.10])\r\n\tby mx.example.net with ESMTPS id 4f2a9c; Mon, 17 Nov 2025 09:14:03 +0000\r\n" +
		"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=2025;\r\n\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaGFzIHRoZSByaWdodCBsZW5ndGg=\r\n" +
		"From: =?UTF-8?Q?Fran=C3=A7ois_Dupont?= <francois@example.org>\r\n" +
		"To: Bob <bob@example.net>, carol@example.net\r\n" +
		"Cc: \"Team, all\" <team@example.org>\r\n" +
		"Subject: =?UTF-8?Q?R=C3=A9union_de_l'=C3=A9quipe_jeudi?=\r\n" +
		"Date: Mon, 17 Nov 2025 10:14:02 +0100\r\n" +
		"Message-ID: <20251117091402.GA1234@example.org>\r\n" +
		"In-Reply-To: <prev-1@example.net>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"mixed\"\r\n\r\n" +
		"This is a multi-part message in MIME format.\r\n" +
		"--mixed\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	para := "Bonjour =C3=A0 tous, la r=C3=A9union de l'=C3=A9quipe aura lieu jeudi au caf=C3=A9 d=\r\nu coin. Merci d'apporter vos notes et le rapport trimestriel.\r\n\r\n"
	for range 25 {
		b.WriteString(para)
	}
	b.WriteString("\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	var html strings.Builder
	html.WriteString("<html><head><style>p { margin: 0 }</style></head><body>")
	for range 20 {
		html.WriteString("<p>Bonjour à tous, la réunion de l'équipe aura lieu <b>jeudi</b> au café du coin.</p>\n")
	}
	html.WriteString("</body></html>\n")
	enc := base64.StdEncoding.EncodeToString([]byte(html.String()))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--alt--\r\n\r\n--mixed\r\nContent-Type: application/pdf; name=\"notes.pdf\"\r\n" +
		"Content-Disposition: attachment; filename=\"notes.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("%PDF-1.4 binary"), 100))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--mixed--\r\n")
	return b.Bytes()
}

func BenchmarkAnalyze(b *testing.B) {
	raw := benchMessage()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		Analyze(raw, Limits{})
	}
}

func BenchmarkAnalyzeStackOverflow(b *testing.B) {
	raw, err := os.ReadFile("../../shared/corpus/mimekit/stack-overflow.txt")
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		Analyze(raw, Limits{})
	}
}
