package sqlite

import (
	"math/rand/v2"
	"pillarbox/store"
	"pillarbox/store/storesuite"
	"slices"
	"strings"
	"testing"
)

func TestAddressText(t *testing.T) {
	for _, tc := range []struct {
		list []store.EnvelopeAddress
		want string
	}{
		{nil, ""},
		{[]store.EnvelopeAddress{{Mailbox: "john", Host: "example.com"}}, "JOHN@EXAMPLE.COM"},
		{[]store.EnvelopeAddress{{Name: "Jörg Straße", Mailbox: "j", Host: "x.de"}, {Mailbox: "k", Host: store.MissingHost}},
			store.Fold("Jörg Straße <j@x.de>, k")},
		{[]store.EnvelopeAddress{{Mailbox: "Friends"}, {Mailbox: "a", Host: "x.org"}, {Name: "B", Mailbox: "b", Host: "y.org"}, {},
			{Mailbox: "c", Host: "z.org"}}, "FRIENDS: A@X.ORG, B <B@Y.ORG>;, C@Z.ORG"},
		{[]store.EnvelopeAddress{{Mailbox: "undisclosed-recipients"}, {}}, "UNDISCLOSED-RECIPIENTS:;"},
	} {
		if got := store.AddressText(tc.list); got != tc.want {
			t.Errorf("AddressText(%+v) = %q, want %q", tc.list, got, tc.want)
		}
	}
}

// TestSearchAddressesMatchBruteForce checks FROM through Search (an
// indexed lookup, no message read) against a substring test on the
// address text, alone, under NOT and mixed with a text key.
func TestSearchAddressesMatchBruteForce(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	const n = 40
	headers, bodies := make([]string, n), make([]string, n)
	froms := make([][]store.EnvelopeAddress, n)
	for i := range n {
		headers[i] = "Subject: " + storesuite.RandomText(r, 3) + "\n"
		bodies[i] = storesuite.RandomText(r, 6)
		froms[i] = storesuite.RandomAddresses(r)
	}
	db, mb := searchDBWith(t, headers, bodies, froms)
	var reads int
	db.searchRowHook = func() { reads++ }
	for k := range 200 {
		needle := storesuite.CutNeedle(r, store.AddressText(froms[r.IntN(n)]), 10)
		if needle == "" {
			needle = "zz"
		}
		field := []string{"from", "FROM", "From"}[k%3]
		var want, notWant []uint32
		for i := range n {
			if strings.Contains(store.AddressText(froms[i]), store.Fold(needle)) {
				want = append(want, uint32(i+1))
			} else {
				notWant = append(notWant, uint32(i+1))
			}
		}
		reads = 0
		got := storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{Header: []store.HeaderCriterion{{Field: field, Value: needle}}}, k%2 == 0)
		if !slices.Equal(got, want) {
			t.Errorf("FROM %q: got %v, want %v", needle, got, want)
		}
		if reads != 0 {
			t.Errorf("FROM %q read %d messages' text, want none", needle, reads)
		}
		got = storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{Not: []store.SearchCriteria{{Header: []store.HeaderCriterion{{Field: field, Value: needle}}}}}, false)
		if !slices.Equal(got, notWant) {
			t.Errorf("NOT FROM %q: got %v, want %v", needle, got, notWant)
		}
		// OR with a body key: both passes see the address key.
		body := bodies[r.IntN(n)]
		word := body[:min(len(body), 3)]
		var orWant []uint32
		for i := range n {
			if strings.Contains(store.AddressText(froms[i]), store.Fold(needle)) || strings.Contains(store.Fold(bodies[i]), store.Fold(word)) {
				orWant = append(orWant, uint32(i+1))
			}
		}
		c := store.SearchCriteria{Or: [][2]store.SearchCriteria{{{Header: []store.HeaderCriterion{{Field: field, Value: needle}}}, {Body: []string{word}}}}}
		if got := storesuite.SearchUIDs(t, db, mb, &c, true); !slices.Equal(got, orWant) {
			t.Errorf("OR FROM %q BODY %q: got %v, want %v", needle, word, got, orWant)
		}
	}
}

// TestSearchAddressesOtherFields: TO, CC and BCC read their own lists, and
// FROM "" still means "has a From field", from the header text.
func TestSearchAddressesOtherFields(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	var mb int64
	err := db.write(ctx, func(tx *Tx) error {
		acct, err := tx.CreateAccount("a@example.org", "x", testNow)
		if err != nil {
			return err
		}
		m, err := tx.CreateMailbox(acct, "INBOX", "", true, testNow)
		if err != nil {
			return err
		}
		mb = m.ID
		for _, b := range []*store.Blob{
			{Data: []byte("From: x\n\none"), HeaderText: "From: x\n", BodyText: "one",
				From: []store.EnvelopeAddress{{Mailbox: "from1", Host: "f.example"}}, To: []store.EnvelopeAddress{{Mailbox: "to1", Host: "t.example"}},
				Cc: []store.EnvelopeAddress{{Mailbox: "cc1", Host: "c.example"}}, Bcc: []store.EnvelopeAddress{{Mailbox: "bcc1", Host: "b.example"}}},
			{Data: []byte("Subject: y\n\ntwo"), HeaderText: "Subject: y\n", BodyText: "two",
				To: []store.EnvelopeAddress{{Name: "cc1", Mailbox: "bcc1", Host: "from1.example"}}},
		} {
			b.Envelope, b.Structure = []byte("{}"), []byte("{}")
			id, err := tx.InsertBlob(b)
			if err != nil {
				return err
			}
			if _, err := tx.AppendMessage(store.NewMessage{MailboxID: mb, BlobID: id, InternalDate: testNow, Size: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field, value string
		want         []uint32
	}{
		{"From", "from1", []uint32{1}},
		{"To", "to1", []uint32{1}},
		{"To", "from1", []uint32{2}},
		{"Cc", "cc1", []uint32{1}},
		{"Bcc", "BCC1@B.", []uint32{1}},
		{"Bcc", "bcc1", []uint32{1}},
		{"To", "cc1 <bcc1@", []uint32{2}},
		{"From", "", []uint32{1}}, // the field is present
		{"Cc", "", nil},
	} {
		c := store.SearchCriteria{Header: []store.HeaderCriterion{{Field: tc.field, Value: tc.value}}}
		if got := storesuite.SearchUIDs(t, db, mb, &c, false); !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: got %v, want %v", tc.field, tc.value, got, tc.want)
		}
	}
}
