package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"pillarbox/store"
	"pillarbox/store/storesuite"
)

// searchTestNow is the internal date of the search tests' messages.
var searchTestNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// searchInsertBlob stores a blob as InsertBlob does, with plain SQL: its
// data, its addresses, its header text and, when indexed, its blob_text
// row (the tsvector of its index terms, header weighted A, body D).
func searchInsertBlob(t *testing.T, pool *pgxpool.Pool, b *store.Blob, indexed bool) int64 {
	t.Helper()
	ctx := context.Background()
	env := b.Envelope
	if env == nil {
		env = []byte("{}")
	}
	blob := id(t, pool, `INSERT INTO blobs(size, envelope, structure, data) VALUES ($1, $2, '{}', $3) RETURNING id`,
		len(b.Data), string(env), b.Data)
	a := b.AddressTexts()
	exec(t, pool, `INSERT INTO blob_addresses(blob_id, from_text, to_text, cc_text, bcc_text) VALUES ($1, $2, $3, $4, $5)`,
		blob, a[0], a[1], a[2], a[3])
	if b.HeaderText != "" {
		exec(t, pool, `INSERT INTO blob_headers(blob_id, text) VALUES ($1, $2)`, blob, b.HeaderText)
	}
	if indexed {
		h, body := b.Terms()
		if _, err := pool.Exec(ctx, `INSERT INTO blob_text(blob_id, terms) VALUES ($1,
			setweight(to_tsvector('simple', $2), 'A') || setweight(to_tsvector('simple', $3), 'D'))`, blob, h, body); err != nil {
			t.Fatal(err)
		}
	}
	return blob
}

// readTestMailbox makes an account (if address is new) and a mailbox of
// it, with plain SQL, and returns the mailbox's id.
func readTestMailbox(t *testing.T, pool *pgxpool.Pool, address, name string) int64 {
	t.Helper()
	acct := id(t, pool, `INSERT INTO accounts(address, password_hash, created) VALUES ($1, 'x', 0)
		ON CONFLICT (address) DO UPDATE SET created = 0 RETURNING id`, address)
	return id(t, pool, `INSERT INTO mailboxes(account_id, name, uidvalidity)
		VALUES ($1, $2, (SELECT coalesce(max(uidvalidity), 0) + 1 FROM mailboxes)) RETURNING id`, acct, name)
}

// readTestAppend adds a message of blob to the mailbox as AppendMessage
// does (the next UID, the next MODSEQ, the keywords noted), with plain
// SQL, and returns its UID.
func readTestAppend(t *testing.T, pool *pgxpool.Pool, mailbox, blob int64, flags int, keywords []string, date time.Time, size int64) uint32 {
	t.Helper()
	var uid, modseq int64
	if err := pool.QueryRow(context.Background(), `UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
		WHERE id = $1 RETURNING uidnext - 1, highestmodseq`, mailbox).Scan(&uid, &modseq); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size, flags, keywords)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, mailbox, uid, modseq, blob, date.Unix(), size, flags, strings.Join(keywords, " "))
	for _, k := range keywords {
		exec(t, pool, `INSERT INTO mailbox_keywords(mailbox_id, keyword) VALUES ($1, $2)
			ON CONFLICT (mailbox_id, lower(keyword)) DO NOTHING`, mailbox, k)
	}
	return uint32(uid)
}

// searchDB stores bodies as messages of one mailbox (UID i+1 holds
// bodies[i]) and returns the mailbox id. The last few blobs are left
// out of the full-text index: search must find them too.
func searchDB(t *testing.T, headers, bodies []string) (*DB, int64) {
	t.Helper()
	return searchDBWith(t, headers, bodies, nil)
}

// searchDBWith is searchDB with froms[i], if any, as message i's From
// addresses.
func searchDBWith(t *testing.T, headers, bodies []string, froms [][]store.EnvelopeAddress) (*DB, int64) {
	t.Helper()
	db := openTest(t)
	db.SetSearchText(storesuite.NulText)
	mb := readTestMailbox(t, db.pool, "a@example.org", "INBOX")
	for i := range bodies {
		blob := &store.Blob{Data: []byte(headers[i] + "\x00" + bodies[i]), HeaderText: headers[i], BodyText: bodies[i]}
		if froms != nil {
			blob.From = froms[i]
		}
		id := searchInsertBlob(t, db.pool, blob, i < len(bodies)-len(bodies)/8)
		readTestAppend(t, db.pool, mb, id, 0, nil, searchTestNow, int64(len(bodies[i])))
	}
	return db, mb
}

func TestSearchFlagsDatesSizes(t *testing.T) {
	t.Parallel()
	db, mb := searchDB(t, []string{"", "", ""}, []string{"a", "bb", "ccc"})
	exec(t, db.pool, `UPDATE messages SET flags = flags | 1, keywords = 'Work' WHERE mailbox_id = $1 AND uid <= 2`, mb)
	exec(t, db.pool, `UPDATE messages SET flags = flags | 4 WHERE mailbox_id = $1 AND uid >= 2`, mb)
	exec(t, db.pool, `UPDATE messages SET saved = $2 WHERE mailbox_id = $1 AND uid = 3`, mb, searchTestNow.Add(48*time.Hour).Unix())
	day := searchTestNow
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
		{store.SearchCriteria{Keywords: []string{"wor%"}}, nil},
		{store.SearchCriteria{Larger: 1}, []uint32{2, 3}},
		{store.SearchCriteria{Smaller: 3}, []uint32{1, 2}},
		{store.SearchCriteria{Since: day}, []uint32{1, 2, 3}},
		{store.SearchCriteria{Before: day}, nil},
		{store.SearchCriteria{Before: day.Add(24 * time.Hour)}, []uint32{1, 2, 3}},
		{store.SearchCriteria{SavedSince: day.Add(24 * time.Hour)}, []uint32{3}},
		{store.SearchCriteria{SavedBefore: day.Add(24 * time.Hour)}, []uint32{1, 2}},
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
	// Many ranges go as one multirange parameter.
	var many []store.UIDRange
	for u := uint32(1); u < 400; u += 2 {
		many = append(many, store.UIDRange{Start: u, Stop: u})
	}
	if got := storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{UIDs: [][]store.UIDRange{many}}, true); !slices.Equal(got, []uint32{1, 3}) {
		t.Errorf("many ranges: %v", got)
	}
	many = append(many[:100], store.UIDRange{Start: 4000, Stop: 0xffffffff})
	if got := storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{Not: []store.SearchCriteria{{UIDs: [][]store.UIDRange{many}}}}, true); !slices.Equal(got, []uint32{2}) {
		t.Errorf("NOT many ranges: %v", got)
	}
}

// TestSearchSentDate: SENTSINCE and SENTBEFORE compare the day of the
// Date: header in its own zone, from the stored envelope; a message
// without one matches neither.
func TestSearchSentDate(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	mb := readTestMailbox(t, db.pool, "a@example.org", "INBOX")
	for _, env := range []string{`{"d":"2024-03-01T23:30:00-05:00"}`, `{"d":"2024-03-02T00:30:00+02:00"}`, `{}`} {
		blob := searchInsertBlob(t, db.pool, &store.Blob{Data: []byte("x"), Envelope: []byte(env)}, true)
		readTestAppend(t, db.pool, mb, blob, 0, nil, searchTestNow, 1)
	}
	day := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		c    store.SearchCriteria
		want []uint32
	}{
		{store.SearchCriteria{SentSince: day}, []uint32{2}},
		{store.SearchCriteria{SentBefore: day}, []uint32{1}},
		{store.SearchCriteria{Not: []store.SearchCriteria{{SentBefore: day}}}, []uint32{2, 3}},
	} {
		if got := storesuite.SearchUIDs(t, db, mb, &tc.c, false); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.c, got, tc.want)
		}
	}
}

// searchBigTextDB stores n messages whose bodies are about size bytes
// of words, message i (UID i+1) ending with "needle<i>", and counts the
// messages whose text Search decodes.
func searchBigTextDB(t *testing.T, n, size int) (*DB, int64, *atomic.Int64) {
	t.Helper()
	headers, bodies := make([]string, n), make([]string, n)
	line := "the quick brown fox jumps over the lazy dog\n"
	for i := range n {
		headers[i] = fmt.Sprintf("Subject: message %d\n", i)
		bodies[i] = strings.Repeat(line, size/len(line)) + fmt.Sprintf("needle%d\n", i)
	}
	db, mb := searchDB(t, headers, bodies)
	var reads atomic.Int64
	db.SetSearchText(func(data []byte, withBody bool) store.MessageText {
		reads.Add(1)
		return storesuite.NulText(data, withBody)
	})
	return db, mb, &reads
}

// searchOrTexts ORs TEXT keys for the needles.
func searchOrTexts(needles ...string) store.SearchCriteria {
	c := store.SearchCriteria{Text: []string{needles[len(needles)-1]}}
	for i := len(needles) - 2; i >= 0; i-- {
		c = store.SearchCriteria{Or: [][2]store.SearchCriteria{{{Text: []string{needles[i]}}, c}}}
	}
	return c
}

// TestSearchReadsEachTextOnce: a search with many text keys decodes each
// candidate message once, not once per key; text keys under NOT, mixed
// with other keys, decode only the messages the other keys leave.
func TestSearchReadsEachTextOnce(t *testing.T) {
	t.Parallel()
	db, mb, reads := searchBigTextDB(t, 10, 64<<10)
	var needles []string
	for k := range store.MaxSearchTextKeys {
		needles = append(needles, fmt.Sprintf("q%d", k))
	}
	needles[5], needles[40] = "NEEDLE3", "needle7"
	c := searchOrTexts(needles...)
	if got := storesuite.SearchUIDs(t, db, mb, &c, true); !slices.Equal(got, []uint32{4, 8}) {
		t.Errorf("got %v, want [4 8]", got)
	}
	if n := reads.Load(); n != 10 {
		t.Errorf("read %d texts for 10 messages and %d keys, want 10", n, store.MaxSearchTextKeys)
	}
	reads.Store(0)
	c = store.SearchCriteria{Not: []store.SearchCriteria{searchOrTexts("needle1", "needle2", "needle8")}, UIDs: [][]store.UIDRange{{{Start: 1, Stop: 4}}}}
	if got := storesuite.SearchUIDs(t, db, mb, &c, false); !slices.Equal(got, []uint32{1, 4}) {
		t.Errorf("NOT: got %v, want [1 4]", got)
	}
	if n := reads.Load(); n != 4 {
		t.Errorf("NOT with UID 1:4: read %d texts, want 4", n)
	}
}

// TestSearchIndexNarrows: runs of the search string that the index can
// prove (whole pieces, the start of the last piece) leave out the
// messages without them, and blobs not indexed are read all the same.
func TestSearchIndexNarrows(t *testing.T) {
	t.Parallel()
	headers := []string{"Subject: one\n", "Subject: two\n", "Subject: three\n", "Subject: four\n"}
	bodies := []string{
		"the invoice 1e5abc total is due",
		"the invoice 2 total is due",
		"an Invoice 1E5ABC Totally",
		"the invoice 1e5abc total is due", // its blob_text row is removed below
	}
	db, mb := searchDB(t, headers, bodies)
	exec(t, db.pool, `DELETE FROM blob_text WHERE blob_id = (SELECT blob_id FROM messages WHERE mailbox_id = $1 AND uid = 4)`, mb)
	var reads atomic.Int64
	db.SetSearchText(func(data []byte, withBody bool) store.MessageText {
		reads.Add(1)
		return storesuite.NulText(data, withBody)
	})
	for _, tc := range []struct {
		needle string
		want   []uint32
		reads  int64
	}{
		{"invoice 1e5abc tot", []uint32{1, 3, 4}, 3}, // "1e5abc" whole, "tot" a prefix: 2 lacks 1e5abc
		{"voice 1E5ABC total ", []uint32{1, 4}, 2},   // "total" whole: 3 has only "Totally"
		{"e 1e5abc total is", []uint32{1, 4}, 2},     // the same, and "is" a prefix
		{"oice", []uint32{1, 2, 3, 4}, 4},            // no separator: every message
		{"x 2 y", nil, 1},                            // 1 and 3 lack "2": only the blob not indexed is left
		{"is due", []uint32{1, 2, 4}, 3},             // "due" a prefix, which 3 lacks
		{"ice 1e", []uint32{1, 3, 4}, 4},             // a prefix with a digit does not narrow
		{"total is d", []uint32{1, 2, 4}, 3},         // "is" whole, "d" a prefix
	} {
		reads.Store(0)
		if got := storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{Body: []string{tc.needle}}, false); !slices.Equal(got, tc.want) {
			t.Errorf("BODY %q: got %v, want %v", tc.needle, got, tc.want)
		}
		if n := reads.Load(); n != tc.reads {
			t.Errorf("BODY %q read %d messages, want %d", tc.needle, n, tc.reads)
		}
	}
	// The mark of a blob with a piece too long for the index makes it a
	// candidate for every query.
	exec(t, db.pool, `UPDATE blob_text SET terms = terms || $2::tsvector
		WHERE blob_id = (SELECT blob_id FROM messages WHERE mailbox_id = $1 AND uid = 2)`, mb, "'"+searchLongMark+"'")
	reads.Store(0)
	if got := storesuite.SearchUIDs(t, db, mb, &store.SearchCriteria{Body: []string{"x 2 y"}}, false); got != nil || reads.Load() != 2 {
		t.Errorf("with the long mark: got %v after %d reads, want none after 2", got, reads.Load())
	}
}

func TestSearchRuns(t *testing.T) {
	for _, tc := range []struct {
		in     string
		whole  []string
		prefix string
	}{
		{"hello", nil, ""},
		{" hello", nil, "hello"},
		{"hello ", nil, ""},
		{"say hello world", []string{"hello"}, "world"},
		{"say hello world.", []string{"hello", "world"}, ""},
		{"a@example.com", []string{"example"}, "com"},
		{"x 1e5abc 42", []string{"1e5abc"}, ""}, // a prefix with a digit
		{"x kelvin such y", nil, "y"},           // k and s fold with non-ASCII
		{"x Straße über", nil, ""},              // not ASCII
		{"x 日本 yes", nil, ""},                   // "yes" has an s
		{"x 日本 yeah", nil, "yeah"},
	} {
		whole, prefix := searchRuns(tc.in)
		if !slices.Equal(whole, tc.whole) || prefix != tc.prefix {
			t.Errorf("searchRuns(%q) = %q, %q; want %q, %q", tc.in, whole, prefix, tc.whole, tc.prefix)
		}
	}
}

// TestSearchStopsWhenContextEnds: cancelling the context stops the first
// pass, and the error says why.
func TestSearchStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	db, mb, _ := searchBigTextDB(t, 50, 1<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reads atomic.Int64
	db.SetSearchText(func(data []byte, withBody bool) store.MessageText {
		reads.Add(1)
		cancel()
		return storesuite.NulText(data, withBody)
	})
	snap, err := db.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	c := searchOrTexts("needle1", "needle2")
	err = snap.Search(ctx, mb, &c, false, func(uint32, uint32) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("search: %v, want context.Canceled", err)
	}
	if n := reads.Load(); n >= 50 {
		t.Errorf("read all %d texts despite the cancellation", n)
	}
}

// TestSearchLimits: past a limit, Search answers ErrSearchLimit before
// anything else (even a context that has ended); criteria at the limits
// run.
func TestSearchLimits(t *testing.T) {
	t.Parallel()
	db, mb := searchDB(t, []string{"Subject: a\n", "Subject: b\n"}, []string{"one", "two"})
	snap, err := db.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	not := store.SearchCriteria{Smaller: 100}
	for range store.MaxSearchDepth + 1 {
		not = store.SearchCriteria{Not: []store.SearchCriteria{not}}
	}
	var texts []string
	for k := range store.MaxSearchTextKeys + 1 {
		texts = append(texts, fmt.Sprint(k))
	}
	for _, c := range []store.SearchCriteria{not, {Body: texts}, {Keywords: make([]string, store.MaxSearchKeys+1)}} {
		err := snap.Search(ended, mb, &c, false, func(uint32, uint32) error { return nil })
		if !errors.Is(err, store.ErrSearchLimit) {
			t.Errorf("%v: %v, want ErrSearchLimit", c.Size(), err)
		}
	}
	var ranges []store.UIDRange
	for u := range uint32(searchInlineRanges) {
		ranges = append(ranges, store.UIDRange{Start: 2*u + 1, Stop: 2*u + 1})
	}
	deep := store.SearchCriteria{Body: []string{"two"}}
	for level := range store.MaxSearchDepth {
		other := store.SearchCriteria{UIDs: [][]store.UIDRange{ranges}}
		if level > 0 {
			other.Text = []string{"x y z"}
		}
		deep = store.SearchCriteria{Or: [][2]store.SearchCriteria{{deep, other}}}
	}
	for deep.Size().Keys < store.MaxSearchKeys {
		deep.NotKeywords = append(deep.NotKeywords, "k")
	}
	z := deep.Size()
	if err := z.Check(); err != nil || z.TextKeys != store.MaxSearchTextKeys || z.Depth != store.MaxSearchDepth {
		t.Fatalf("criteria at the limits: %+v, %v", z, err)
	}
	if got := storesuite.SearchUIDs(t, db, mb, &deep, true); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("criteria at the limits: got %v, want [1 2]", got)
	}
}

// TestSearchAddresses: FROM, TO, CC and BCC with a value match the
// stored address texts, not the header; other fields, and an empty
// value, read the header text.
func TestSearchAddresses(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	mb := readTestMailbox(t, db.pool, "a@example.org", "INBOX")
	blob := searchInsertBlob(t, db.pool, &store.Blob{Data: []byte("From: nobody\n"), HeaderText: "From: nobody\nX-To: y\n",
		From: []store.EnvelopeAddress{{Name: "Jörg Müller", Mailbox: "joerg", Host: "example.de"}},
		To:   []store.EnvelopeAddress{{Mailbox: "dave", Host: "example.com"}},
		Bcc:  []store.EnvelopeAddress{{Mailbox: "x", Host: "y.org"}}}, true)
	readTestAppend(t, db.pool, mb, blob, 0, nil, searchTestNow, 1)
	for _, tc := range []struct {
		field, value string
		want         []uint32
	}{
		{"From", "JÖRG müller <joerg@", []uint32{1}},
		{"from", "nobody", nil},
		{"To", "dave@EXAMPLE", []uint32{1}},
		{"Cc", "dave", nil},
		{"Bcc", "x@y.org", []uint32{1}},
		{"X-To", "y", []uint32{1}},
		{"From", "", []uint32{1}},
		{"Cc", "", nil},
	} {
		c := store.SearchCriteria{Header: []store.HeaderCriterion{{Field: tc.field, Value: tc.value}}}
		if got := storesuite.SearchUIDs(t, db, mb, &c, false); !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: got %v, want %v", tc.field, tc.value, got, tc.want)
		}
	}
}

// TestSearchHeaderWithoutStoredText: a header key reads the stored
// header text, and decodes the message only where the blob has none;
// BackfillHeaders stores the missing ones, once, and IndexBacklog counts
// the blobs not in the full-text index.
func TestSearchHeaderWithoutStoredText(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	mb := readTestMailbox(t, db.pool, "a@example.org", "INBOX")
	var reads atomic.Int64
	db.SetSearchText(func(data []byte, withBody bool) store.MessageText {
		reads.Add(1)
		return storesuite.NulText(data, withBody)
	})
	stored := searchInsertBlob(t, db.pool, &store.Blob{Data: []byte("Subject: Stored\x00b"), HeaderText: "Subject: Stored"}, true)
	older := searchInsertBlob(t, db.pool, &store.Blob{Data: []byte("Subject: Older\x00b")}, false)
	readTestAppend(t, db.pool, mb, stored, 0, nil, searchTestNow, 1)
	readTestAppend(t, db.pool, mb, older, 0, nil, searchTestNow, 1)
	if n, err := db.IndexBacklog(ctx); err != nil || n != 1 {
		t.Errorf("index backlog %d, %v; want 1", n, err)
	}
	if err := db.FlushIndex(ctx); err != nil {
		t.Fatal(err)
	}
	subject := func(v string) *store.SearchCriteria {
		return &store.SearchCriteria{Header: []store.HeaderCriterion{{Field: "subject", Value: v}}}
	}
	if got := storesuite.SearchUIDs(t, db, mb, subject("older"), false); !slices.Equal(got, []uint32{2}) || reads.Load() != 1 {
		t.Errorf("SUBJECT older: %v after %d decodings, want [2] after 1", got, reads.Load())
	}
	n, err := db.BackfillHeaders(ctx)
	if err != nil || n != 1 {
		t.Fatalf("backfill: %d, %v; want 1", n, err)
	}
	var text string
	if err := db.pool.QueryRow(ctx, `SELECT text FROM blob_headers WHERE blob_id = $1`, older).Scan(&text); err != nil || text != "Subject: Older" {
		t.Errorf("backfilled header %q, %v", text, err)
	}
	if n, err := db.BackfillHeaders(ctx); err != nil || n != 0 {
		t.Errorf("second backfill: %d, %v; want 0", n, err)
	}
	reads.Store(0)
	if got := storesuite.SearchUIDs(t, db, mb, subject("STORED"), false); !slices.Equal(got, []uint32{1}) || reads.Load() != 0 {
		t.Errorf("SUBJECT stored: %v after %d decodings, want [1] after none", got, reads.Load())
	}
}
