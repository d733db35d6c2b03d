package mailbox

import (
	"bytes"
	"testing"
)

// qpPadding exercises every rule of RFC 2045 section 6.7 that Dovecot's
// imaptest checks through BINARY (its case fetch-binary-mime-qp): lines
// with transport padding, soft line breaks with and without padding after
// the '=', white space before a soft line break, and an empty line after
// one.
const qpPadding = "Dear  \r\nreader=\r\n\r\nsoft\t=\r\nbreak\r\npad\t \t= \r\n=21\r\n" +
	"equals = \t\r\nsign\r\nsplit =\r\n=3D\r\ntrail  \r\nend=\r\n\r\nlast_line\r\n"

// qpPaddingDecoded is qpPadding decoded by hand, by those rules.
const qpPaddingDecoded = "Dear\r\nreader\r\nsoft\tbreak\r\npad\t \t!\r\nequals sign\r\nsplit =\r\n" +
	"trail\r\nend\r\nlast_line\r\n"

func TestDecodeQuotedPrintable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"padding before CRLF", "hello  \r\nbar", "hello\r\nbar"},
		{"tab padding", "a\t \t\r\nb", "a\r\nb"},
		{"padding before a bare LF", "foo  \nbar", "foo\r\nbar"},
		{"padding at the end of the body", "=0A=0D  ", "\n\r"},
		{"padding on an empty line", "a\r\n  \r\nb", "a\r\n\r\nb"},
		{"inner white space kept", "a \t b\r\n", "a \t b\r\n"},
		{"encoded space kept", "a=20\r\nb =09\r\n", "a \r\nb \t\r\n"},
		{"encoded space then padding", "a=20  \r\n", "a \r\n"},
		{"soft break with padding", "foo= \r\nbar", "foobar"},
		{"soft break with mixed padding", "foo=\t \t\r\nbar", "foobar"},
		{"soft break with padding and bare LF", "foo= \nbar", "foobar"},
		{"white space before a soft break", "foo\t \t= \r\n=62", "foo\t \tb"},
		{"soft break at the end", "foo=", "foo"},
		{"soft break with padding at the end", "foo=  \t", "foo"},
		{"padding before a bare CR kept", "foo  \rbar", "foo  \rbar"},
		{"bare LF is a line break", "\n\n", "\r\n\r\n"},
		{"mixed line ends", "\r\n\n\n\r\n", "\r\n\r\n\r\n\r\n"},
		{"escapes", "a=3Db=C3=A4", "a=b\xc3\xa4"},
		{"lower-case escape", "=c3=a4", "\xc3\xa4"},
		{"invalid escape kept", "c =ZZ d", "c =ZZ d"},
		{"'=' then text kept", "a= b", "a= b"},
		{"every rule", qpPadding, qpPaddingDecoded},
	} {
		if got := decodeQuotedPrintable([]byte(tc.in)); string(got) != tc.want {
			t.Errorf("%s: decodeQuotedPrintable(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestDecodeBodyQuotedPrintable checks the decoding that BINARY uses.
func TestDecodeBodyQuotedPrintable(t *testing.T) {
	t.Parallel()
	got, err := DecodeBody("QUOTED-PRINTABLE", []byte(qpPadding))
	if err != nil || string(got) != qpPaddingDecoded {
		t.Errorf("DecodeBody = %q, %v; want %q", got, err, qpPaddingDecoded)
	}
}

// FuzzDecodeQuotedPrintable checks that decoding never panics, that the
// output stays within twice the input (a bare LF becomes CRLF), and that
// no decoded line ends in a space or tab that the input did not encode.
func FuzzDecodeQuotedPrintable(f *testing.F) {
	for _, s := range []string{qpPadding, "a \r\n", "=\r\n", "= \t", "=0", "=", " ", "\n", "=20 \r\n", "x\r \r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := decodeQuotedPrintable(in)
		if len(out) > 2*len(in) {
			t.Fatalf("%q decodes to %d octets", in, len(out))
		}
		if bytes.Contains(in, []byte("=")) {
			return // encoded padding may be kept
		}
		for _, end := range []string{" \r\n", "\t\r\n"} {
			if bytes.Contains(out, []byte(end)) {
				t.Fatalf("%q decodes to %q, with padding kept", in, out)
			}
		}
		if bytes.HasSuffix(out, []byte(" ")) || bytes.HasSuffix(out, []byte("\t")) {
			t.Fatalf("%q decodes to %q, with padding at the end", in, out)
		}
	})
}
