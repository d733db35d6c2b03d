package storesuite

import (
	"context"
	"reflect"
	"testing"
	"time"

	"pillarbox/store"
)

// Messages checks what AppendMessage says of the rows it writes.
func Messages(t *testing.T, open Opener) {
	t.Run("AppendedRowIsTheStoredOne", func(t *testing.T) { t.Parallel(); appendedRow(t, open) })
}

// appendedRow: the row AppendMessage returns is the one a snapshot then
// reads, to the second and zone of its dates and the form of its
// keywords, which a cache of rows relies on.
func appendedRow(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	mb := newMailbox(t, db, newAccount(t, db, "rows@example.org"), "INBOX", "")
	zone := time.FixedZone("IST", 5*3600+1800)
	news := []store.NewMessage{
		{InternalDate: time.Date(2024, 2, 1, 10, 0, 0, 123456789, zone), Size: 11, Flags: store.FlagDraft | store.FlagSeen, Keywords: []string{"$Work", "later"}},
		{InternalDate: testNow, Size: 12},
		{InternalDate: testNow, Size: 13, Keywords: []string{}},
	}
	var rows []store.Message
	write(t, db, func(tx store.Tx) error {
		rows = rows[:0]
		for i, m := range news {
			id, err := tx.InsertBlob(sizedBlob(m.Size, "<row"+string(rune('0'+i))+"@x>"))
			if err != nil {
				return err
			}
			m.MailboxID, m.BlobID = mb, id
			row, err := tx.AppendMessage(m)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		return nil
	})
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var read []store.Message
	if err := snap.EachMessage(ctx, mb, 1, 1<<31, len(news), store.ColumnsRow, func(m *store.Message) error {
		read = append(read, *m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(read) != len(rows) {
		t.Fatalf("read %d rows, appended %d", len(read), len(rows))
	}
	for i := range rows {
		if !reflect.DeepEqual(rows[i], read[i]) {
			t.Errorf("message %d:\nAppendMessage gave %+v\na snapshot reads   %+v", i+1, rows[i], read[i])
		}
	}
}
