package sqlite

import (
	"context"
	"pillarbox/store"
	"pillarbox/store/storesuite"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHeaderSearchReadsStoredHeader: with the header text stored beside
// the blob (migration 18), a search of header keys alone decodes no
// message; blobs without it (stored before) are decoded as before and
// give the same answer, and BackfillHeaders stores theirs.
func TestHeaderSearchReadsStoredHeader(t *testing.T) {
	t.Parallel()
	headers := []string{"Subject: lunch plans\n", "Subject: budget\n", "Subject: Lunch again\n", "X-Tag: lunch\n"}
	bodies := []string{"a", "lunch b", "c", "d"}
	db, mb := searchDB(t, headers, bodies)
	var decoded atomic.Int64
	db.SetSearchText(func(data []byte, withBody bool) store.MessageText {
		decoded.Add(1)
		return storesuite.NulText(data, withBody)
	})
	c := &store.SearchCriteria{Header: []store.HeaderCriterion{{Field: "Subject", Value: "lunch"}}}
	if got := storesuite.SearchUIDs(t, db, mb, c, false); !slices.Equal(got, []uint32{1, 3}) {
		t.Errorf("SUBJECT lunch = %v, want [1 3]", got)
	}
	if n := decoded.Load(); n != 0 {
		t.Errorf("decoded %d messages for a header search with stored headers", n)
	}

	// As stored before migration 18: no header rows.
	ctx := context.Background()
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(`DELETE FROM blob_headers`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := storesuite.SearchUIDs(t, db, mb, c, false); !slices.Equal(got, []uint32{1, 3}) {
		t.Errorf("without stored headers: SUBJECT lunch = %v, want [1 3]", got)
	}
	if n := decoded.Load(); n == 0 {
		t.Error("without stored headers, no message was decoded")
	}
	n, err := db.BackfillHeaders(ctx)
	if err != nil || n != len(headers) {
		t.Fatalf("BackfillHeaders = %d, %v; want %d", n, err, len(headers))
	}
	if n, err := db.BackfillHeaders(ctx); err != nil || n != 0 {
		t.Errorf("second BackfillHeaders = %d, %v; want 0", n, err)
	}
	decoded.Store(0)
	if got := storesuite.SearchUIDs(t, db, mb, c, false); !slices.Equal(got, []uint32{1, 3}) {
		t.Errorf("after backfill: SUBJECT lunch = %v, want [1 3]", got)
	}
	if n := decoded.Load(); n != 0 {
		t.Errorf("after backfill: decoded %d messages", n)
	}
	// Body keys still read the message.
	b := &store.SearchCriteria{Body: []string{"lunch"}}
	if got := storesuite.SearchUIDs(t, db, mb, b, false); !slices.Equal(got, []uint32{2}) {
		t.Errorf("BODY lunch = %v, want [2]", got)
	}
	var stored string
	if err := db.sdb.QueryRowContext(ctx, `SELECT text FROM blob_headers ORDER BY blob_id LIMIT 1`).Scan(&stored); err != nil ||
		!strings.HasPrefix(stored, "Subject: lunch plans") {
		t.Errorf("backfilled header %q, %v", stored, err)
	}
}

// TestSaveDateOfOlderMessages: a message stored before migration 19 has
// no save date; reading and searching use its internal date.
func TestSaveDateOfOlderMessages(t *testing.T) {
	t.Parallel()
	db, mb := searchDB(t, []string{"Subject: a\n"}, []string{"x"})
	ctx := context.Background()
	if err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(`UPDATE messages SET saved = NULL`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	snap, err := db.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var rows []store.Message
	err = snap.EachMessage(ctx, mb, 1, 10, 10, store.ColumnsRow, func(m *store.Message) error {
		rows = append(rows, *m)
		return nil
	})
	if err != nil || len(rows) != 1 || !rows[0].SaveDate.Equal(rows[0].InternalDate) {
		t.Fatalf("%+v, %v: want the internal date as save date", rows, err)
	}
	c := &store.SearchCriteria{SavedSince: testNow.AddDate(0, 0, -1), SavedBefore: testNow.AddDate(0, 0, 1)}
	if got := storesuite.SearchUIDs(t, db, mb, c, false); !slices.Equal(got, []uint32{1}) {
		t.Errorf("SAVED around the internal date: %v", got)
	}
}
