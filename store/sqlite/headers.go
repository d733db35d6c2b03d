package sqlite

import (
	"context"
	"fmt"
	"pillarbox/store"
)

// insertHeader stores the decoded header text of a new blob, when the
// caller gave it (Blob.HeaderText).
func (tx *Tx) insertHeader(id int64, b *store.Blob) error {
	if b.HeaderText == "" {
		return nil
	}
	_, err := tx.exec(`INSERT INTO blob_headers(blob_id, text) VALUES (?, ?)`, id, b.HeaderText)
	return err
}

// headerBackfillBatch bounds the blobs one backfill transaction covers.
const headerBackfillBatch = 500

// BackfillHeaders stores the header text of the blobs stored before
// migration 18, a batch per write transaction, with the search text
// function (SetSearchText must have been called), and returns how many
// it stored. Search works without it, decoding such blobs' headers each
// time.
func (db *DB) BackfillHeaders(ctx context.Context) (int, error) {
	total := 0
	for {
		type row struct {
			id   int64
			text string
		}
		var batch []row
		rows, err := db.sdb.QueryContext(ctx, `SELECT b.id, b.data FROM blobs b
			WHERE NOT EXISTS (SELECT 1 FROM blob_headers h WHERE h.blob_id = b.id) ORDER BY b.id LIMIT ?`, headerBackfillBatch)
		if err != nil {
			return total, fmt.Errorf("store: backfill headers: %w", err)
		}
		for rows.Next() {
			var id int64
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return total, fmt.Errorf("store: backfill headers: %w", err)
			}
			batch = append(batch, row{id, db.searchText(data, false).Header})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("store: backfill headers: %w", err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		err = db.write(ctx, func(tx *Tx) error {
			for _, r := range batch {
				// The blob may have gone meanwhile, and a delivery may
				// have stored the same row: both are fine.
				if _, err := tx.exec(`INSERT OR IGNORE INTO blob_headers(blob_id, text)
					SELECT ?, ? WHERE EXISTS (SELECT 1 FROM blobs WHERE id = ?)`, r.id, r.text, r.id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("store: backfill headers: %w", err)
		}
		total += len(batch)
		if len(batch) < headerBackfillBatch {
			return total, nil
		}
	}
}
