package wire

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestWriterFetchItems(t *testing.T) {
	t.Parallel()
	text := &imap.BodyStructureSinglePart{Type: "TEXT", Subtype: "PLAIN", Params: map[string]string{"charset": "us-ascii", "format": "flowed"},
		Encoding: "7BIT", Size: 3028, Text: &imap.BodyStructureText{NumLines: 92}}
	att := &imap.BodyStructureSinglePart{Type: "APPLICATION", Subtype: "PDF", Encoding: "BASE64", Size: 100,
		Extended: &imap.BodyStructureSinglePartExt{Disposition: &imap.BodyStructureDisposition{Value: "attachment", Params: map[string]string{"filename": "a b.pdf"}}}}
	mp := &imap.BodyStructureMultiPart{Children: []imap.BodyStructure{text, att}, Subtype: "MIXED",
		Extended: &imap.BodyStructureMultiPartExt{Params: map[string]string{"boundary": "xyz"}}}
	env := &imap.Envelope{
		Date:      time.Date(1996, 7, 17, 2, 44, 25, 0, time.FixedZone("", -7*3600)),
		Subject:   "IMAP4rev2 WG mtg summary and minutes",
		From:      []imap.Address{{Name: "Terry Gray", Mailbox: "gray", Host: "cac.washington.edu"}},
		To:        []imap.Address{{Mailbox: "imap", Host: "cac.washington.edu"}},
		Cc:        []imap.Address{{Mailbox: "undisclosed-recipients"}, {}},
		InReplyTo: []string{"<a@b>"},
		MessageID: "<B27397-0100000@cac.washington.edu>",
	}
	tests := []struct {
		name  string
		write func(w *Writer)
		want  string
	}{
		{"body sections", func(w *Writer) {
			w.BodySectionName(&imap.FetchItemBodySection{})
			w.SP()
			w.BodySectionName(&imap.FetchItemBodySection{Part: []int{1, 2}, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "To"}, Peek: true, Partial: &imap.SectionPartial{Offset: 10, Size: 5}})
			w.SP()
			w.BodySectionName(&imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"X"}})
			w.SP()
			w.BodySectionName(&imap.FetchItemBodySection{Part: []int{3}, Specifier: imap.PartSpecifierMIME})
		}, "BODY[] BODY[1.2.HEADER.FIELDS (From To)]<10> BODY[HEADER.FIELDS.NOT (X)] BODY[3.MIME]"},
		{"binary", func(w *Writer) {
			w.BinarySectionName([]int{1}, &imap.SectionPartial{Offset: 100, Size: 10})
			w.SP()
			w.BinarySectionName(nil, nil)
			w.SP()
			w.BinarySizeName([]int{2, 1})
		}, "BINARY[1]<100> BINARY[] BINARY.SIZE[2.1]"},
		{"envelope", func(w *Writer) { w.Envelope(env) },
			`("Wed, 17 Jul 1996 02:44:25 -0700" "IMAP4rev2 WG mtg summary and minutes" (("Terry Gray" NIL "gray" "cac.washington.edu")) NIL NIL ` +
				`((NIL NIL "imap" "cac.washington.edu")) ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL "<a@b>" "<B27397-0100000@cac.washington.edu>")`},
		{"empty envelope", func(w *Writer) { w.Envelope(&imap.Envelope{}) }, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
		{"source route", func(w *Writer) { w.Address("", "@relay.example", "joe", "example.com") }, `(NIL "@relay.example" "joe" "example.com")`},
		{"body", func(w *Writer) { w.BodyStructure(mp, false) },
			`(("TEXT" "PLAIN" ("charset" "us-ascii" "format" "flowed") NIL NIL "7BIT" 3028 92)("APPLICATION" "PDF" NIL NIL NIL "BASE64" 100) "MIXED")`},
		{"bodystructure", func(w *Writer) { w.BodyStructure(mp, true) },
			`(("TEXT" "PLAIN" ("charset" "us-ascii" "format" "flowed") NIL NIL "7BIT" 3028 92)("APPLICATION" "PDF" NIL NIL NIL "BASE64" 100 NIL ("attachment" ("filename" "a b.pdf")) NIL NIL) "MIXED" ("boundary" "xyz") NIL NIL NIL)`},
		{"message/rfc822", func(w *Writer) {
			w.BodyStructure(&imap.BodyStructureSinglePart{Type: "MESSAGE", Subtype: "RFC822", Size: 50,
				MessageRFC822: &imap.BodyStructureMessageRFC822{Envelope: &imap.Envelope{Subject: "x"}, BodyStructure: text, NumLines: 4}}, false)
		}, `("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 50 (NIL "x" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("charset" "us-ascii" "format" "flowed") NIL NIL "7BIT" 3028 92) 4)`},
	}
	for _, tt := range tests {
		w, buf := newTestWriter()
		tt.write(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
