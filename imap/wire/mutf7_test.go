package wire

import (
	"testing"
	"unicode/utf8"
)

func TestMUTF7RoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"", ""},
		{"Tom & Jerry", "Tom &- Jerry"},
		{"&", "&-"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"Ünïcödé", "&ANw-n&AO8-c&APY-d&AOk-"},
		{"😀", "&2D3eAA-"},
		{"a\tb", "a&AAk-b"},
	}
	for _, tt := range tests {
		if got := EncodeMUTF7(tt.utf8); got != tt.mutf7 {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", tt.utf8, got, tt.mutf7)
		}
		got, err := DecodeMUTF7(tt.mutf7)
		if err != nil || got != tt.utf8 {
			t.Errorf("DecodeMUTF7(%q) = %q, %v; want %q", tt.mutf7, got, err, tt.utf8)
		}
	}
}

func TestMUTF7Invalid(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"&",                  // unterminated
		"&Jjo",               // unterminated run
		"&Jjo!",              // "!" is not modified base64
		"&'+,-",              // from imaptest: invalid
		"Tom & Jerry",        // bare "&"
		"&AGE-",              // encodes "a", which must stand for itself
		"&U,BTFw-&ZeVnLIqe-", // two adjacent runs
		"&ZeVnLIqe=-",        // padding
		"&ZeVnLB-",           // leftover bits not zero (日本 is &ZeVnLA-)
		"&2D3-",              // lone high surrogate
		"&3gA-",              // lone low surrogate
		"&ZeVnLIq-",          // odd number of bytes
		"a\x01b",             // control character
		"caf\xc3\xa9",        // raw 8-bit
		"&AAAA-",             // NUL and leftover bits
	} {
		if got, err := DecodeMUTF7(s); err == nil {
			t.Errorf("DecodeMUTF7(%q) = %q, want an error", s, got)
		}
	}
}

func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"Tom & Jerry", "日本語", "&ZeVnLIqe-", "&-", "&2D3eAA-", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Every valid UTF-8 name survives a round trip.
		if utf8.ValidString(s) {
			enc := EncodeMUTF7(s)
			dec, err := DecodeMUTF7(enc)
			if err != nil || dec != s {
				t.Fatalf("round trip of %q: %q -> %q, %v", s, enc, dec, err)
			}
		}
		// Whatever decodes is canonical: encoding it gives the input back.
		if dec, err := DecodeMUTF7(s); err == nil {
			if enc := EncodeMUTF7(dec); enc != s {
				t.Fatalf("%q decodes to %q which encodes to %q", s, dec, enc)
			}
		}
	})
}
