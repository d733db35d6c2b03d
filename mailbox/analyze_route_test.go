package mailbox

import (
	"context"
	"testing"
)

// TestAnalyzeSourceRoute checks that the obsolete source route of an
// address (RFC 5322 section 4.4) is kept as the ENVELOPE's addr-adl, in
// the form Dovecot sends it, while the mailbox and host stay those of the
// address.
func TestAnalyzeSourceRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, field string
		want        []EnvAddress
	}{
		{"one relay", "<@relay1.example:user@example.org>",
			[]EnvAddress{{Route: "@relay1.example", Mailbox: "user", Host: "example.org"}}},
		{"several relays", "<@relay1.example,@relay2.example:user@example.org>",
			[]EnvAddress{{Route: "@relay1.example,@relay2.example", Mailbox: "user", Host: "example.org"}}},
		{"white space and comments", "< @relay1.example , (via) @ relay2.example : user@example.org >",
			[]EnvAddress{{Route: "@relay1.example,@relay2.example", Mailbox: "user", Host: "example.org"}}},
		{"empty list elements", "<,@relay1.example,,@relay2.example:user@example.org>",
			[]EnvAddress{{Route: "@relay1.example,@relay2.example", Mailbox: "user", Host: "example.org"}}},
		{"display name", `"Joe Q. Public" <@relay.example:joe@example.org>`,
			[]EnvAddress{{Name: "Joe Q. Public", Route: "@relay.example", Mailbox: "joe", Host: "example.org"}}},
		{"encoded display name", "=?utf-8?q?J=C3=BCrgen?= <@a.example,@b.example:j@example.de>",
			[]EnvAddress{{Name: "Jürgen", Route: "@a.example,@b.example", Mailbox: "j", Host: "example.de"}}},
		{"quoted local part", `<@relay.example:"john doe"@example.org>`,
			[]EnvAddress{{Route: "@relay.example", Mailbox: "john doe", Host: "example.org"}}},
		{"domain literals", "<@[IPv6:2001:db8::1],@[192.0.2.1]:user@example.org>",
			[]EnvAddress{{Route: "@[IPv6:2001:db8::1],@[192.0.2.1]", Mailbox: "user", Host: "example.org"}}},
		{"in a list", "a@example.org, B <@relay.example:b@example.org>, c@example.org",
			[]EnvAddress{{Mailbox: "a", Host: "example.org"}, {Name: "B", Route: "@relay.example", Mailbox: "b", Host: "example.org"},
				{Mailbox: "c", Host: "example.org"}}},
		{"in a group", "team: A <@r1.example,@r2.example:a@example.org>, <@r3.example:b@example.org>;, c@example.org",
			[]EnvAddress{{Mailbox: "team"}, {Name: "A", Route: "@r1.example,@r2.example", Mailbox: "a", Host: "example.org"},
				{Route: "@r3.example", Mailbox: "b", Host: "example.org"}, {}, {Mailbox: "c", Host: "example.org"}}},
		{"no route", "Plain <user@example.org>",
			[]EnvAddress{{Name: "Plain", Mailbox: "user", Host: "example.org"}}},
		// Malformed routes: the address is kept, the route only as far as
		// it is made of "@domain" elements.
		{"missing colon", "<@relay.example user@example.org>",
			[]EnvAddress{{Mailbox: "user", Host: "example.org"}}},
		{"element without @", "<@relay1.example,relay2.example:user@example.org>",
			[]EnvAddress{{Route: "@relay1.example", Mailbox: "user", Host: "example.org"}}},
		{"empty domain", "<@:user@example.org>",
			[]EnvAddress{{Mailbox: "user", Host: "example.org"}}},
		{"route without address", "<@relay.example:>, d@example.org",
			[]EnvAddress{{Mailbox: "d", Host: "example.org"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := []byte("From: " + tc.field + "\r\n\r\n")
			m := Analyze(raw, Limits{})
			if err := checkMeta(raw, m, Limits{}); err != nil {
				t.Fatal(err)
			}
			wantEqual(t, "From", m.Envelope.From, tc.want)
		})
	}
}

// TestAnalyzeSourceRouteMalformed feeds broken route syntax: nothing
// panics, and every address the analyzer keeps passes checkMeta.
func TestAnalyzeSourceRouteMalformed(t *testing.T) {
	t.Parallel()
	for _, field := range []string{
		"<@", "<@>", "<@:>", "<@,:>", "<@,,,", "<@@@:@@@>", "<@a:@b:c@d>", "<@a,@b", "<@a,@b:",
		"<@[IPv6:2001:db8::1>", "<@[unclosed:user@example.org>", "<@a (comment:b@c>", "<@\"q:x\"@y:z@w>",
		"g: <@a:b@c>", "g: <@a:b@c>; <@d:e@f>;", "<@a:b@c> <@d:e@f>", ":<@a:b@c>;", "<@a:=?utf-8?q?x?=@y>",
		"<@\xff\xfe:user@example.org>",
	} {
		raw := []byte("From: " + field + "\r\nTo: " + field + ", x@example.org\r\n\r\n")
		m := Analyze(raw, Limits{})
		if err := checkMeta(raw, m, Limits{}); err != nil {
			t.Errorf("%q: %v", field, err)
		}
	}
}

// TestDeliverKeepsSourceRoute checks the route through delivery: the
// envelope stored with the message, and that of an enclosed message in
// the stored structure, read back as FETCH reads them.
func TestDeliverKeepsSourceRoute(t *testing.T) {
	t.Parallel()
	s, _ := newTestService(t)
	ctx := context.Background()
	raw := "From: Relayed <@relay1.example,@relay2.example:bob@example.net>\r\nTo: alice@example.org\r\n" +
		"Subject: routed\r\nContent-Type: message/rfc822\r\n\r\n" +
		"From: <@inner.example:carol@example.com>\r\nSubject: inner\r\n\r\nhello\r\n"
	inbox := aliceInbox(t, s, raw)
	var msgs []Message
	err := s.ReadMailbox(ctx, inbox.ID, nil, func(r *Reader) error {
		var err error
		msgs, err = r.Messages(1, ^uint32(0), 10, 1, WantStructure)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	from := []EnvAddress{{Name: "Relayed", Route: "@relay1.example,@relay2.example", Mailbox: "bob", Host: "example.net"}}
	wantEqual(t, "From", msgs[0].Envelope.From, from)
	wantEqual(t, "Sender", msgs[0].Envelope.Sender, from)
	inner := msgs[0].Structure.Envelope
	if inner == nil {
		t.Fatal("no enclosed envelope")
	}
	wantEqual(t, "enclosed From", inner.From, []EnvAddress{{Route: "@inner.example", Mailbox: "carol", Host: "example.com"}})
}
