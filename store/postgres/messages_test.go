package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pillarbox/store"
)

// One blob serves a message delivered to two accounts, and goes with
// its last message, its index row with it.
func TestBlobSharedAndReleased(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	accts := []int64{msgAccount(t, db, "a@x.org"), msgAccount(t, db, "b@x.org")}
	msgWrite(t, db, func(tx *Tx) error {
		bid, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: hi\r\n\r\nbody\r\n"), Envelope: []byte("{}"), Structure: []byte("{}"),
			HeaderText: "Subject: hi\r\n", BodyText: "body\r\n"})
		if err != nil {
			return err
		}
		for _, acct := range accts {
			mb, err := tx.CreateMailbox(acct, "INBOX", "", true, msgNow)
			if err != nil {
				return err
			}
			if _, err := tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: bid, InternalDate: msgNow, Size: 22}); err != nil {
				return err
			}
		}
		return nil
	})
	if n, _ := db.CountBlobs(ctx); n != 1 {
		t.Fatalf("%d blobs for one message to two recipients, want 1", n)
	}
	exec(t, db.pool, `DELETE FROM accounts WHERE id = $1`, accts[0])
	if n, _ := db.CountBlobs(ctx); n != 1 {
		t.Fatalf("blob released while b@ still has the message")
	}
	exec(t, db.pool, `DELETE FROM accounts WHERE id = $1`, accts[1])
	if n, _ := db.CountBlobs(ctx); n != 0 {
		t.Fatalf("blob kept after its last message went")
	}
	for _, table := range []string{"blob_text", "blob_addresses", "blob_headers"} {
		if n := msgCount(t, db, `SELECT count(*) FROM `+table); n != 0 {
			t.Fatalf("%d rows of %s kept after their blob went", n, table)
		}
	}
}

// InsertBlob stores the blob's search terms with the header's weighted
// A and the body's D, its address texts and its decoded header, and a
// blob without a Date: has a NULL sent_date.
func TestInsertBlobIndex(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	var withHeader, bare int64
	sent := time.Unix(1_600_000_000, 0)
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		withHeader, err = tx.InsertBlob(&store.Blob{Data: []byte("x"), MessageID: "<m@x>", SentDate: sent,
			Envelope: []byte(`{"s":"Quarterly"}`), Structure: []byte(`{"t":"text"}`),
			HeaderText: "Subject: Quarterly report\nFrom: Ann\n", BodyText: "The REPORT is late, Ünïcode-text.\n",
			From: []store.EnvelopeAddress{{Name: "Ann", Mailbox: "ann", Host: "x.org"}},
			To:   []store.EnvelopeAddress{{Mailbox: "bob", Host: "y.org"}}})
		if err != nil {
			return err
		}
		bare, err = tx.InsertBlob(&store.Blob{Data: []byte("y"), Envelope: []byte("{}"), Structure: []byte("{}")})
		return err
	})
	match := func(blob int64, query string) bool {
		t.Helper()
		var ok bool
		if err := db.pool.QueryRow(ctx, `SELECT terms @@ to_tsquery('simple', $2) FROM blob_text WHERE blob_id = $1`, blob, query).Scan(&ok); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return ok
	}
	for q, want := range map[string]bool{
		"quarterly:A": true, "quarterly:D": false, "quarterly": true, // header only
		"late:D": true, "late:A": false, // body only
		"report:A": true, "report:D": true, // both, whatever the case
		"subject:A": true, "quart:*A": true, "quart:*D": false,
		"Ünïcode": true, "text:D": true, "missing": false,
	} {
		if got := match(withHeader, q); got != want {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	if match(bare, "x") {
		t.Error("an empty blob matches")
	}
	if n := msgCount(t, db, `SELECT count(*) FROM blob_text`); n != 2 {
		t.Errorf("%d blob_text rows, want one per blob", n)
	}
	var from, to, cc string
	if err := db.pool.QueryRow(ctx, `SELECT from_text, to_text, cc_text FROM blob_addresses WHERE blob_id = $1`, withHeader).Scan(&from, &to, &cc); err != nil {
		t.Fatal(err)
	}
	b := store.Blob{From: []store.EnvelopeAddress{{Name: "Ann", Mailbox: "ann", Host: "x.org"}}, To: []store.EnvelopeAddress{{Mailbox: "bob", Host: "y.org"}}}
	if a := b.AddressTexts(); from != a[0] || to != a[1] || cc != "" {
		t.Errorf("addresses %q %q %q, want %q %q \"\"", from, to, cc, a[0], a[1])
	}
	if n := msgCount(t, db, `SELECT count(*) FROM blob_headers WHERE blob_id = $1 AND text = 'Subject: Quarterly report'||chr(10)||'From: Ann'||chr(10)`, withHeader); n != 1 {
		t.Errorf("header text of the blob not stored")
	}
	if n := msgCount(t, db, `SELECT count(*) FROM blob_headers WHERE blob_id = $1`, bare); n != 0 {
		t.Errorf("a blob without header text has a blob_headers row")
	}
	if n := msgCount(t, db, `SELECT count(*) FROM blobs WHERE id = $1 AND sent_date = $2 AND message_id = '<m@x>' AND size = 1`, withHeader, sent.Unix()); n != 1 {
		t.Errorf("blob row not as given")
	}
	if n := msgCount(t, db, `SELECT count(*) FROM blobs WHERE id = $1 AND sent_date IS NULL`, bare); n != 1 {
		t.Errorf("zero SentDate not stored as NULL")
	}
	env, st, err := db.BlobMeta(ctx, withHeader)
	if err != nil || string(env) != `{"s":"Quarterly"}` || string(st) != `{"t":"text"}` {
		t.Errorf("BlobMeta = %s %s %v", env, st, err)
	}
}

// AppendMessage hands out UIDs and MODSEQs in order and records the
// keywords; the reads outside a transaction give back what was written.
func TestAppendAndRead(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	acct := msgAccount(t, db, "a@x.org")
	data := []byte("Subject: s\r\n\r\n0123456789")
	var mb store.Mailbox
	var blob int64
	var got [][2]uint64
	before := time.Now().Unix()
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if mb, err = tx.CreateMailbox(acct, "INBOX", "", true, msgNow); err != nil {
			return err
		}
		if blob, err = tx.InsertBlob(&store.Blob{Data: data, Envelope: []byte("{}"), Structure: []byte("{}")}); err != nil {
			return err
		}
		for i, kw := range [][]string{nil, {"Work", "$Junk"}, {"work", "later"}} {
			row, err := tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: blob,
				InternalDate: msgNow.Add(time.Duration(i) * time.Hour), Size: int64(len(data)), Flags: store.FlagSeen * (i % 2), Keywords: kw})
			if err != nil {
				return err
			}
			got = append(got, [2]uint64{uint64(row.UID), row.ModSeq})
		}
		return nil
	})
	if want := [][2]uint64{{1, 2}, {2, 3}, {3, 4}}; !slices.Equal(got, want) {
		t.Fatalf("(uid, modseq) %v, want %v", got, want)
	}
	m, _ := db.MailboxByID(ctx, mb.ID)
	if m.UIDNext != 4 || m.HighestModSeq != 4 {
		t.Fatalf("UIDNEXT %d HIGHESTMODSEQ %d, want 4 and 4", m.UIDNext, m.HighestModSeq)
	}
	msgs, err := db.Messages(ctx, mb.ID, 1, 0xffffffff, 0)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("messages %+v %v", msgs, err)
	}
	m1 := msgs[1]
	if m1.UID != 2 || m1.ModSeq != 3 || m1.BlobID != blob || !m1.InternalDate.Equal(msgNow.Add(time.Hour)) || m1.Size != int64(len(data)) ||
		m1.Flags != store.FlagSeen || !slices.Equal(m1.Keywords, []string{"Work", "$Junk"}) || m1.MailboxID != mb.ID || m1.ID == 0 {
		t.Fatalf("message 2: %+v", m1)
	}
	if msgs[0].Keywords != nil {
		t.Fatalf("message without keywords: %q", msgs[0].Keywords)
	}
	if msgs, _ := db.Messages(ctx, mb.ID, 2, 3, 1); len(msgs) != 1 || msgs[0].UID != 2 {
		t.Fatalf("Messages(2, 3, limit 1) = %+v", msgs)
	}
	if n, err := db.CountMessages(ctx, mb.ID); n != 3 || err != nil {
		t.Fatalf("CountMessages %d %v", n, err)
	}
	if n := msgCount(t, db, `SELECT count(*) FROM messages WHERE mailbox_id = $1 AND saved BETWEEN $2 AND $3`, mb.ID, before, time.Now().Unix()); n != 3 {
		t.Fatalf("%d messages with a save date of the write, want 3", n)
	}
	var kws []string
	rows, _ := db.pool.Query(ctx, `SELECT keyword FROM mailbox_keywords WHERE mailbox_id = $1 ORDER BY keyword COLLATE "C"`, mb.ID)
	for rows.Next() {
		var k string
		rows.Scan(&k)
		kws = append(kws, k)
	}
	if want := []string{"$Junk", "Work", "later"}; !slices.Equal(kws, want) {
		t.Fatalf("mailbox keywords %q, want %q (first spelling)", kws, want)
	}

	if d, err := db.BlobData(ctx, blob); err != nil || string(d) != string(data) {
		t.Fatalf("BlobData %q %v", d, err)
	}
	for _, c := range []struct {
		start, n int64
		want     string
	}{{0, 7, "Subject"}, {14, 100, "0123456789"}, {23, 5, "9"}, {24, 5, ""}, {100, 5, ""}} {
		if d, err := db.BlobRange(ctx, blob, c.start, c.n); err != nil || string(d) != c.want {
			t.Errorf("BlobRange(%d, %d) = %q %v, want %q", c.start, c.n, d, err, c.want)
		}
	}
	if d, err := db.BlobRange(ctx, blob, 0, 0); d != nil || err != nil {
		t.Errorf("BlobRange of nothing: %q %v", d, err)
	}
	if d, err := db.BlobRange(ctx, blob, -1, 3); d != nil || err != nil {
		t.Errorf("BlobRange from -1: %q %v", d, err)
	}
	for name, f := range map[string]func() error{
		"BlobData":  func() error { _, err := db.BlobData(ctx, 1<<40); return err },
		"BlobMeta":  func() error { _, _, err := db.BlobMeta(ctx, 1<<40); return err },
		"BlobRange": func() error { _, err := db.BlobRange(ctx, 1<<40, 0, 1); return err },
		"append": func() error {
			return db.write(ctx, func(tx *Tx) error {
				_, err := tx.AppendMessage(store.NewMessage{MailboxID: 1 << 40, BlobID: blob, InternalDate: msgNow})
				return err
			})
		},
	} {
		if err := f(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of what is not there: %v, want ErrNotFound", name, err)
		}
	}
}

// Every write that adds or removes a message keeps the account's usage
// equal to the sum of its messages' sizes (SQLite's
// TestQuotaUsageFollowsWrites, for the writes of this file).
func TestQuotaUsageFollowsWrites(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	alice, bob := msgAccount(t, db, "alice@example.org"), msgAccount(t, db, "bob@example.org")
	var inbox, archive, bobInbox store.Mailbox
	const size1, size2 = 1000, 250
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if inbox, err = tx.CreateMailbox(alice, "INBOX", "", true, msgNow); err != nil {
			return err
		}
		if archive, err = tx.CreateMailbox(alice, "Archive", "", true, msgNow); err != nil {
			return err
		}
		bobInbox, err = tx.CreateMailbox(bob, "INBOX", "", true, msgNow)
		return err
	})
	usage := func(account, want int64, step string) {
		t.Helper()
		got := msgCount(t, db, `SELECT usage FROM accounts WHERE id = $1`, account)
		sum := msgCount(t, db, `SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
			WHERE b.account_id = $1`, account)
		if got != want || got != sum {
			t.Fatalf("%s: usage %d, want %d (sum of messages %d)", step, got, want, sum)
		}
	}
	add := func(mb store.Mailbox, size int) {
		t.Helper()
		msgWrite(t, db, func(tx *Tx) error {
			blob, err := tx.InsertBlob(&store.Blob{Data: make([]byte, size), Envelope: []byte("{}"), Structure: []byte("{}")})
			if err != nil {
				return err
			}
			_, err = tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: blob, InternalDate: msgNow, Size: int64(size)})
			return err
		})
	}
	usage(alice, 0, "new account")
	add(inbox, size1)
	add(bobInbox, size1)
	usage(alice, size1, "deliver")
	usage(bob, size1, "deliver to bob")
	add(inbox, size2)
	usage(alice, size1+size2, "append")
	msgWrite(t, db, func(tx *Tx) error {
		_, err := tx.CopyMessages(inbox.ID, []store.UIDRange{{Start: 1, Stop: 1}}, archive.ID)
		return err
	})
	usage(alice, 2*size1+size2, "copy (shared blob counts twice)")
	msgWrite(t, db, func(tx *Tx) error {
		if _, err := tx.CopyMessages(inbox.ID, []store.UIDRange{{Start: 2, Stop: 2}}, archive.ID); err != nil {
			return err
		}
		_, err := tx.RemoveMessages(inbox.ID, []uint32{2})
		return err
	})
	usage(alice, 2*size1+size2, "move within the account")
	msgWrite(t, db, func(tx *Tx) error {
		_, err := tx.RemoveMessages(inbox.ID, []uint32{1})
		return err
	})
	usage(alice, size1+size2, "expunge")
	msgWrite(t, db, func(tx *Tx) error { return tx.DeleteMailbox(archive.ID) })
	usage(alice, 0, "folder deleted")
	usage(bob, size1, "bob after alice's changes")
}

// Two nodes, ten writers each, append to one mailbox and set flags on
// its messages at once. The mailbox row's lock makes them take turns:
// the UIDs come out 1..n without a gap or a repeat, a write that started
// after another committed has the higher UID and MODSEQ, UIDNEXT and
// HIGHESTMODSEQ end at the highest handed out, the totals are exact, and
// the sequence numbers each write reported are those of its own view (no
// message goes, so a message's is its UID).
func TestTwoNodesAppendAndFlag(t *testing.T) {
	t.Parallel()
	d := pg.DB(t)
	a, b := openAt(t, d, -1), openAt(t, d, -1)
	ctx := context.Background()
	acct := msgAccount(t, a, "a@x.org")
	var mb store.Mailbox
	msgWrite(t, a, func(tx *Tx) error {
		var err error
		mb, err = tx.CreateMailbox(acct, "INBOX", "", true, msgNow)
		return err
	})
	type op struct {
		start, end time.Time
		uid        uint32
		modseqs    []uint64 // the append's, then the flag change's
	}
	const writers, rounds = 20, 10
	var mu sync.Mutex
	var ops []op
	errs := make(chan error, writers)
	for w := range writers {
		db := []*DB{a, b}[w%2]
		go func() {
			for i := range rounds {
				var o op
				o.start = time.Now()
				err := db.write(ctx, func(tx *Tx) error {
					o.modseqs = o.modseqs[:0]
					blob, err := tx.InsertBlob(&store.Blob{Data: fmt.Appendf(nil, "w%d r%d", w, i), Envelope: []byte("{}"), Structure: []byte("{}")})
					if err != nil {
						return err
					}
					row, err := tx.AppendMessage(store.NewMessage{MailboxID: mb.ID, BlobID: blob, InternalDate: msgNow, Size: int64(10 + w)})
					if err != nil {
						return err
					}
					uid := row.UID
					modseq := row.ModSeq
					o.uid = uid
					o.modseqs = append(o.modseqs, row.ModSeq)
					// A keyword of its own makes sure the change changes
					// at least the new message; the range reaches others'.
					kw := fmt.Sprintf("k%d_%d", w, i)
					changed, err := tx.SetFlags(mb.ID, []store.UIDRange{{Start: uid - min(uid-1, 3), Stop: uid}}, store.FlagsAdd,
						store.FlagSeen*(w%2)|store.FlagDeleted*(i%2), []string{kw})
					if err != nil {
						return err
					}
					if len(changed) == 0 || changed[len(changed)-1].UID != uid {
						return fmt.Errorf("flag change of uid %d: %+v", uid, changed)
					}
					for _, c := range changed {
						if c.Seq != c.UID || c.ModSeq <= modseq {
							return fmt.Errorf("change %+v after append modseq %d: seq must be the uid, modseq above", c, modseq)
						}
					}
					o.modseqs = append(o.modseqs, changed[0].ModSeq)
					return nil
				})
				o.end = time.Now()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ops = append(ops, o)
				mu.Unlock()
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	const n = writers * rounds
	uids := make([]uint32, 0, n)
	var maxModSeq uint64
	for _, o := range ops {
		uids = append(uids, o.uid)
		maxModSeq = max(maxModSeq, o.modseqs[1])
	}
	slices.Sort(uids)
	for i, u := range uids {
		if u != uint32(i+1) {
			t.Fatalf("UIDs handed out %v, want 1..%d once each", uids, n)
		}
	}
	// Commit order: a write that began after another returned comes
	// after it.
	for _, x := range ops {
		for _, y := range ops {
			if x.end.Before(y.start) && (x.uid >= y.uid || x.modseqs[1] >= y.modseqs[0]) {
				t.Fatalf("write (uid %d, modseqs %v) committed before write (uid %d, modseqs %v) began", x.uid, x.modseqs, y.uid, y.modseqs)
			}
		}
	}
	m, err := b.MailboxByID(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.UIDNext != n+1 || m.HighestModSeq != maxModSeq {
		t.Fatalf("UIDNEXT %d HIGHESTMODSEQ %d, want %d and %d", m.UIDNext, m.HighestModSeq, n+1, maxModSeq)
	}
	if got := uint64(msgCount(t, a, `SELECT max(modseq) FROM messages WHERE mailbox_id = $1`, mb.ID)); got != maxModSeq {
		t.Fatalf("highest message MODSEQ %d, want %d", got, maxModSeq)
	}
	if got := msgCount(t, a, `SELECT count(*) FROM (SELECT uid FROM messages WHERE mailbox_id = $1 GROUP BY uid HAVING count(*) > 1) d`, mb.ID); got != 0 {
		t.Fatalf("%d UIDs held twice", got)
	}
	msgCheckCounts(t, a, "after two nodes wrote")
	if c, _ := a.MailboxCounts(ctx, mb.ID); c.Messages != n {
		t.Fatalf("counts %+v, want %d messages", c, n)
	}
	if got := msgCount(t, a, `SELECT count(*) FROM mailbox_keywords WHERE mailbox_id = $1`, mb.ID); got != n {
		t.Fatalf("%d keywords noted, want %d", got, n)
	}
}

// A blob with a piece too long for a tsvector's lexeme carries the mark
// beside its terms; one whose terms would not fit in a tsvector is
// stored all the same, with the mark alone, and the write goes on.
func TestInsertBlobLongTerms(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	var huge strings.Builder
	for i := 0; huge.Len() < 1<<20; i++ {
		fmt.Fprintf(&huge, "w%dx%d ", i, i*7919)
	}
	var long, big, after int64
	msgWrite(t, db, func(tx *Tx) error {
		var err error
		if long, err = tx.InsertBlob(&store.Blob{Data: []byte("x"), Envelope: []byte("{}"), Structure: []byte("{}"),
			HeaderText: "Subject: short", BodyText: "word " + strings.Repeat("a", 3000)}); err != nil {
			return err
		}
		if big, err = tx.InsertBlob(&store.Blob{Data: []byte("y"), Envelope: []byte("{}"), Structure: []byte("{}"),
			HeaderText: "Subject: big", BodyText: huge.String()}); err != nil {
			return err
		}
		after, err = tx.InsertBlob(&store.Blob{Data: []byte("z"), Envelope: []byte("{}"), Structure: []byte("{}"), BodyText: "fine"})
		return err
	})
	terms := func(blob int64) string {
		t.Helper()
		var s string
		if err := db.pool.QueryRow(ctx, `SELECT strip(terms)::text FROM blob_text WHERE blob_id = $1`, blob).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := terms(long); got != `'!long' 'short' 'subject' 'word'` {
		t.Errorf("terms of the blob with a long piece: %s", got)
	}
	if got := terms(big); got != `'!long'` {
		t.Errorf("terms of the blob too large to index: %.100s", got)
	}
	if got := terms(after); got != `'fine'` {
		t.Errorf("terms of the blob after: %s", got)
	}
	if n, _ := db.CountBlobs(ctx); n != 3 {
		t.Errorf("%d blobs stored, want 3", n)
	}
}
