package sqlite

import (
	"context"
	"pillarbox/store"
	"pillarbox/store/storesuite"
	"slices"
	"strings"
	"testing"
	"time"
)

// searchDB stores bodies as messages of one mailbox (UID i+1 holds
// bodies[i]) and returns the mailbox id.
func searchDB(t *testing.T, headers, bodies []string) (*DB, int64) {
	t.Helper()
	return searchDBWith(t, headers, bodies, nil)
}

// searchDBWith is searchDB with froms[i], if any, as message i's From
// addresses.
func searchDBWith(t *testing.T, headers, bodies []string, froms [][]store.EnvelopeAddress) (*DB, int64) {
	t.Helper()
	db := openTest(t, Options{})
	db.SetSearchText(storesuite.NulText)
	ctx := context.Background()
	var mb int64
	err := db.write(ctx, func(tx *Tx) error {
		acct, err := tx.CreateAccount("a@example.org", "x", testNow)
		if err != nil {
			return err
		}
		m, err := tx.CreateMailbox(acct, "INBOX", "", true, testNow)
		mb = m.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first half goes into the full-text index, the rest waits for the
	// indexer: search must find both.
	add := func(lo, hi int) {
		err := db.write(ctx, func(tx *Tx) error {
			for i := lo; i < hi; i++ {
				blob := &store.Blob{Data: []byte(headers[i] + "\x00" + bodies[i]), Envelope: []byte("{}"), Structure: []byte("{}"),
					HeaderText: headers[i], BodyText: bodies[i]}
				if froms != nil {
					blob.From = froms[i]
				}
				id, err := tx.InsertBlob(blob)
				if err != nil {
					return err
				}
				if _, err := tx.AppendMessage(store.NewMessage{MailboxID: mb, BlobID: id, InternalDate: testNow, Size: int64(len(bodies[i]))}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(0, len(bodies)/2)
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	add(len(bodies)/2, len(bodies))
	return db, mb
}

func TestFTSQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello", ""},
		{" hello", `"hello*"`},
		{"hello ", ""},
		{"say hello world", `"hello" "world*"`},
		{"say hello world.", `"hello" "world"`},
		{"a@example.com", `"example" "com*"`},
		{"xyz — Straße", `"straße*"`},
		{"ab über", `"über*"`},
		{"x über yes", `"über" "yes*"`},
		{"x 日本 yes", `"yes*"`},
		{"x y 日本 z", `"y" "z*"`},
		{"x foo—bar y", `"foo—bar" "y*"`},
		{"a, b, c", `"b" "c*"`},
		{"", ""},
	} {
		if got, none := ftsQuery(tc.in, store.KeyBody, nil); got != tc.want || none {
			t.Errorf("ftsQuery(%q, body, nil) = %q, %v; want %q", tc.in, got, none, tc.want)
		}
	}
	// The header's pieces are marked in the index; TEXT asks for either.
	for _, tc := range []struct {
		in   string
		kind store.TextKind
		want string
	}{
		{"x Report 7", store.KeyHeader, `"qqhreport" "qqh7*"`},
		{"x Report 7", store.KeyText, `("qqhreport" OR "report") ("qqh7*" OR "7*")`},
		{"x —foo", store.KeyHeader, `"qqh—foo*"`},
	} {
		if got, _ := ftsQuery(tc.in, tc.kind, nil); got != tc.want {
			t.Errorf("ftsQuery(%q, %d, nil) = %q, want %q", tc.in, tc.kind, got, tc.want)
		}
	}
	// With the indexed pieces: the first run becomes the pieces that end
	// with it, or that contain it when it is the whole string.
	indexed := []string{"invoice", "reinvoice", "invoices", "ref", "pref", "—", "日本"}
	lookup := func(run string, suffix bool) ([]string, bool) {
		var out []string
		for _, p := range indexed {
			f := store.Fold(p)
			if suffix && strings.HasSuffix(f, run) || !suffix && strings.Contains(f, run) {
				if !hasASCIIAlnum(p) {
					return nil, false
				}
				out = append(out, p)
			}
		}
		return out, len(out) <= 2
	}
	for _, tc := range []struct {
		in, want string
		none     bool
	}{
		{"Invoice", "", false},                       // three pieces: more than the lookup allows
		{"VOICES", `"invoices"`, false},              // inside a piece
		{"ref-00", `("ref" OR "pref") "00*"`, false}, // the end of a piece
		{"nothing", "", true},                        // in no piece
		{"nothing at all", "", true},
		{"日本", "", false},   // no ASCII letter or digit: not looked up
		{"x ref", "", true}, // "x" ends no indexed piece
	} {
		if got, none := ftsQuery(tc.in, store.KeyBody, lookup); got != tc.want || none != tc.none {
			t.Errorf("ftsQuery(%q) = %q, %v; want %q, %v", tc.in, got, none, tc.want, tc.none)
		}
	}
}

// ftsQueryText shows the full-text query of s without indexed pieces.
func ftsQueryText(s string) string {
	q, _ := ftsQuery(s, store.KeyBody, nil)
	return q
}

func TestFold(t *testing.T) {
	if store.Fold("Straße") != store.Fold("STRAẞE") || store.Fold("Straße") == store.Fold("STRASSE") {
		t.Errorf("Fold: Straße %q, STRAẞE %q, STRASSE %q", store.Fold("Straße"), store.Fold("STRAẞE"), store.Fold("STRASSE"))
	}
	if store.Fold("Kelvin") != store.Fold("\u212Aelvin") {
		t.Error("Fold: the Kelvin sign is not k")
	}
}

func TestSearchFlagsDatesSizes(t *testing.T) {
	t.Parallel()
	db, mb := searchDB(t, []string{"", "", ""}, []string{"a", "bb", "ccc"})
	ctx := context.Background()
	err := db.write(ctx, func(tx *Tx) error {
		if _, err := tx.SetFlags(mb, []store.UIDRange{{Start: 1, Stop: 2}}, store.FlagsAdd, store.FlagSeen, []string{"Work"}); err != nil {
			return err
		}
		_, err := tx.SetFlags(mb, []store.UIDRange{{Start: 2, Stop: 3}}, store.FlagsAdd, store.FlagFlagged, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	day := testNow.UTC()
	for _, tc := range []struct {
		c    store.SearchCriteria
		want []uint32
	}{
		{store.SearchCriteria{Flags: store.FlagSeen}, []uint32{1, 2}},
		{store.SearchCriteria{Flags: store.FlagSeen | store.FlagFlagged}, []uint32{2}},
		{store.SearchCriteria{NotFlags: store.FlagSeen}, []uint32{3}},
		{store.SearchCriteria{Keywords: []string{"work"}}, []uint32{1, 2}},
		{store.SearchCriteria{NotKeywords: []string{"WORK"}}, []uint32{3}},
		{store.SearchCriteria{Keywords: []string{"wor_"}}, nil},
		{store.SearchCriteria{Larger: 1}, []uint32{2, 3}},
		{store.SearchCriteria{Smaller: 3}, []uint32{1, 2}},
		{store.SearchCriteria{Since: day}, []uint32{1, 2, 3}},
		{store.SearchCriteria{Before: day}, nil},
		{store.SearchCriteria{Before: day.Add(24 * time.Hour)}, []uint32{1, 2, 3}},
		{store.SearchCriteria{UIDs: [][]store.UIDRange{{{Start: 1, Stop: 1}, {Start: 3, Stop: 9}}}}, []uint32{1, 3}},
		{store.SearchCriteria{UIDs: [][]store.UIDRange{{{Start: 1, Stop: 2}}, {{Start: 2, Stop: 3}}}}, []uint32{2}},
		{store.SearchCriteria{UIDs: [][]store.UIDRange{{}}}, nil},
		{store.SearchCriteria{Or: [][2]store.SearchCriteria{{{Larger: 2}, {NotFlags: store.FlagFlagged}}}}, []uint32{1, 3}},
		{store.SearchCriteria{Never: true}, nil},
	} {
		if got := storesuite.SearchUIDs(t, db, mb, &tc.c, false); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.c, got, tc.want)
		}
	}
	// Many ranges go through the registered function.
	var many []store.UIDRange
	for u := uint32(1); u < 400; u += 2 {
		many = append(many, store.UIDRange{Start: u, Stop: u})
	}
	if got := storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{UIDs: [][]store.UIDRange{many}}, true); !slices.Equal(got, []uint32{1, 3}) {
		t.Errorf("many ranges: %v", got)
	}
}

// Criteria of text keys alone are answered from the first pass's rows:
// copies that share a blob are each found; text keys with anything else
// (a flag, a UID set, an address header) still go through the second
// pass; with sequence numbers asked for, so does a text key alone.
func TestSearchTextAloneFromFirstPass(t *testing.T) {
	t.Parallel()
	db, mb := searchDB(t, []string{"Subject: apple\r\n", "Subject: pear\r\n", "Subject: apple pie\r\n"}, []string{"x", "y", "z"})
	ctx := context.Background()
	err := db.write(ctx, func(tx *Tx) error {
		if _, err := tx.CopyMessages(mb, []store.UIDRange{{Start: 1, Stop: 1}}, mb); err != nil {
			return err
		}
		_, err := tx.SetFlags(mb, []store.UIDRange{{Start: 3, Stop: 3}}, store.FlagsAdd, store.FlagSeen, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	apple := store.HeaderCriterion{Field: "Subject", Value: "APPLE"}
	for _, tc := range []struct {
		c       store.SearchCriteria
		withSeq bool
		want    []uint32
	}{
		{store.SearchCriteria{Header: []store.HeaderCriterion{apple}}, false, []uint32{1, 3, 4}},
		{store.SearchCriteria{Header: []store.HeaderCriterion{apple}}, true, []uint32{1, 3, 4}},
		{store.SearchCriteria{Header: []store.HeaderCriterion{apple, {Field: "Subject", Value: "pie"}}}, false, []uint32{3}},
		{store.SearchCriteria{Header: []store.HeaderCriterion{apple}, Flags: store.FlagSeen}, false, []uint32{3}},
		{store.SearchCriteria{Header: []store.HeaderCriterion{apple}, UIDs: [][]store.UIDRange{{{Start: 4, Stop: 9}}}}, false, []uint32{4}},
		{store.SearchCriteria{Header: []store.HeaderCriterion{apple}, Not: []store.SearchCriteria{{Text: []string{"pie"}}}}, false, []uint32{1, 4}},
		{store.SearchCriteria{Header: []store.HeaderCriterion{apple, {Field: "From", Value: "nobody"}}}, false, nil},
	} {
		if got := storesuite.SearchUIDs(t, db, mb, &tc.c, tc.withSeq); !slices.Equal(got, tc.want) {
			t.Errorf("%+v (withSeq %v): got %v, want %v", tc.c, tc.withSeq, got, tc.want)
		}
	}
	if !onlyText(&store.SearchCriteria{Header: []store.HeaderCriterion{apple}, Body: []string{"x"}, Text: []string{"y"}}) {
		t.Error("text keys alone are not taken as text alone")
	}
	if onlyText(&store.SearchCriteria{Header: []store.HeaderCriterion{apple}, Never: true}) {
		t.Error("NEVER with a text key is taken as text alone")
	}
}
