package mailbox

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// searchFolder delivers each message to alice's INBOX (UID i+1 holds
// msgs[i]) and returns a function that runs a search on it.
func searchFolder(t *testing.T, msgs ...string) func(c Criteria) []uint32 {
	t.Helper()
	s, _ := newTestService(t)
	ctx := context.Background()
	raws := make([]string, len(msgs))
	for i, m := range msgs {
		raws[i] = strings.ReplaceAll(m, "\n", "\r\n")
	}
	inbox := aliceInbox(t, s, raws...)
	return func(c Criteria) []uint32 {
		t.Helper()
		var out []uint32
		err := s.ReadMailbox(ctx, inbox.ID, nil, func(r *Reader) error {
			return r.Search(&c, false, func(uid, _ uint32) error { out = append(out, uid); return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// TestSearchAddressesParsed: FROM, TO, CC and BCC match the parsed
// addresses of the field (RFC 9051 6.4.4 speaks of the envelope's
// fields): the decoded display name, the local part, the domain and the
// addr-spec, never a comment, a source route, an encoded word's raw form
// or the group syntax's punctuation inside a name. The raw header holds
// all of those, so a substring search of it (what SEARCH did before)
// fails these.
func TestSearchAddressesParsed(t *testing.T) {
	t.Parallel()
	search := searchFolder(t,
		// 1: a comment in the name and after the address, and a source route
		"From: John Doe (Sales dept) <@relay.example,@hop.example:john.doe@example.com> (via list)\n"+
			"To: bob@example.org\nSubject: one\n\nbody\n",
		// 2: an encoded-word display name, and Cc with a comment as only name
		"From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>\n"+
			"To: alice@example.org\nCc: carol@example.net (Carol C)\nSubject: two\n\nbody\n",
		// 3: group syntax in To, an empty group in Bcc, a quoted name with a comma
		"From: \"Smith, Anna\" <anna@example.com>\n"+
			"To: Project Team: dave@example.com, \"Eve E.\" <eve@example.net>;, frank@example.org\n"+
			"Bcc: undisclosed-recipients:;\nSubject: three\n\nbody\n",
	)
	for _, tc := range []struct {
		field, value string
		want         []uint32
	}{
		{"From", "john doe", []uint32{1}},
		{"From", "JOHN.DOE@EXAMPLE.COM", []uint32{1}},
		{"From", "doe <john", []uint32{1}},
		{"From", "sales", nil},         // a comment in the name
		{"From", "via list", nil},      // a comment after the address
		{"From", "relay.example", nil}, // the source route
		{"From", "hop", nil},
		{"From", "jörg müller", []uint32{2}},
		{"From", "JÖRG", []uint32{2}},
		{"From", "=?utf-8", nil}, // the encoded word as written
		{"From", "C3", nil},
		{"From", "smith, anna", []uint32{3}},
		{"From", "example.com", []uint32{1, 3}},
		{"To", "project team", []uint32{3}},
		{"To", "eve e.", []uint32{3}},
		{"To", "eve@example.net", []uint32{3}},
		{"To", "frank@", []uint32{3}},
		{"To", "example.org", []uint32{1, 2, 3}},
		{"Cc", "carol@example.net", []uint32{2}},
		{"Bcc", "undisclosed", []uint32{3}},
		{"Bcc", "john", nil},
		{"from", "", []uint32{1, 2, 3}}, // any message with the field
	} {
		got := search(Criteria{Header: []HeaderMatch{{Field: tc.field, Value: tc.value}}})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: got %v, want %v", tc.field, tc.value, got, tc.want)
		}
	}
	// HEADER of another field still reads the header text: comments stay.
	if got := search(Criteria{Header: []HeaderMatch{{Field: "Subject", Value: "two"}}}); !slices.Equal(got, []uint32{2}) {
		t.Errorf("SUBJECT two: got %v", got)
	}
}

// TestSearchTextFromStoredMessage: with no copy of the text in the
// database, BODY, TEXT and HEADER decode the stored message: quoted-
// printable, base64 and charsets as delivery saw them.
func TestSearchTextFromStoredMessage(t *testing.T) {
	t.Parallel()
	search := searchFolder(t,
		"Subject: =?ISO-8859-1?Q?caf=E9?=\nContent-Type: text/plain; charset=iso-8859-1\n"+
			"Content-Transfer-Encoding: quoted-printable\n\nna=EFve soft=\nbreak\n",
		"Subject: plain\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"+
			"w7xiZXIgZGllIEJyw7xja2UK\n",
	)
	for _, tc := range []struct {
		c    Criteria
		want []uint32
	}{
		{Criteria{Body: []string{"naïve softbreak"}}, []uint32{1}},
		{Criteria{Body: []string{"=EF"}}, nil},
		{Criteria{Header: []HeaderMatch{{Field: "Subject", Value: "CAFÉ"}}}, []uint32{1}},
		{Criteria{Text: []string{"über die brücke"}}, []uint32{2}},
		{Criteria{Body: []string{"w7xi"}}, nil},
	} {
		if got := search(tc.c); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.c, got, tc.want)
		}
	}
}
