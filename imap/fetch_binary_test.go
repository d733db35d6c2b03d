package imap

import (
	"testing"

	"github.com/emersion/go-imap/v2"
)

// qpBody has transport padding (RFC 2045 section 6.7 rule 3) at the end
// of lines, soft line breaks with padding after the '=' (rule 5), white
// space before a soft line break, and ends in a '=' with padding.
const qpBody = "Dear  \r\nreader=\r\n\r\nsoft\t=\r\nbreak\r\npad\t \t= \r\n=21\r\n" +
	"equals = \t\r\nsign\r\ntrail \t\r\nend=  "

// qpDecoded is qpBody decoded by hand: padding dropped, soft breaks joined.
const qpDecoded = "Dear\r\nreader\r\nsoft\tbreak\r\npad\t \t!\r\nequals sign\r\ntrail\r\nend"

// TestFetchBinaryQuotedPrintablePadding checks BINARY[part] and
// BINARY.SIZE[part] (RFC 3516) of quoted-printable parts with transport
// padding, in a multipart, in a single-part message, and in a message
// appended with bare LF line ends, where a decoded line break is CRLF.
func TestFetchBinaryQuotedPrintablePadding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("alice")
	multi := crlf("From: a@example.org\nSubject: padding\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n"+
		"Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\n") +
		qpBody + "\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n" +
		"second part  \r\n--b--\r\n"
	single := crlf("From: a@example.org\nSubject: single\nContent-Transfer-Encoding: quoted-printable\n\n") + qpBody
	unix := "From: a@example.org\nSubject: unix\nContent-Transfer-Encoding: quoted-printable\n\nline one \t\nline=\ntwo  \n"
	for _, raw := range []string{multi, single, unix} {
		appendRaw(t, c, "INBOX", []byte(raw), nil)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seq  uint32
		part []int
		want string
	}{
		{1, []int{1}, qpDecoded},
		// The CRLF before a boundary belongs to the boundary (RFC 2046
		// section 5.1.1): the padding ends the body.
		{1, []int{2}, "second part"},
		{2, []int{1}, qpDecoded},
		{3, []int{1}, "line one\r\nlinetwo\r\n"},
	} {
		m := fetchOne(t, c, imap.SeqSetNum(tc.seq), &imap.FetchOptions{
			BinarySection:     []*imap.FetchItemBinarySection{{Part: tc.part, Peek: true}},
			BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: tc.part}},
		})
		if got := m.FindBinarySection(&imap.FetchItemBinarySection{Part: tc.part, Peek: true}); string(got) != tc.want {
			t.Errorf("message %d BINARY[%v] = %q, want %q", tc.seq, tc.part, got, tc.want)
		}
		if n, ok := m.FindBinarySectionSize(tc.part); !ok || n != uint32(len(tc.want)) {
			t.Errorf("message %d BINARY.SIZE[%v] = %d %v, want %d", tc.seq, tc.part, n, ok, len(tc.want))
		}
	}
	// BODY[1] stays the part as stored: only BINARY decodes.
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Part: []int{1}, Peek: true}},
	})
	if got := m.FindBodySection(&imap.FetchItemBodySection{Part: []int{1}, Peek: true}); string(got) != qpBody {
		t.Errorf("BODY[1] = %q, want the encoded body", got)
	}
}
