package postgres

import (
	"context"
	"fmt"

	"pillarbox/store"
)

// SetSearchText installs the function that derives the search text from
// a stored message (package mailbox installs its MIME decoder); call it
// before the first write or search. Until it is called, the text is the
// message as stored: the header block and the body, undecoded. Every
// node sharing the database must install the same function.
func (db *DB) SetSearchText(f store.SearchTextFunc) { db.searchText = f }

// searchTextOf derives the search text of a stored message.
func (db *DB) searchTextOf(data []byte, withBody bool) store.MessageText {
	if f := db.searchText; f != nil {
		return f(data, withBody)
	}
	return store.RawSearchText(data, withBody)
}

// FlushIndex has nothing to do: PostgreSQL indexes a blob's text in the
// transaction that stores it (InsertBlob writes its blob_text row, and
// GIN batches its own index updates in its pending list), so there is no
// pending text to move, unlike SQLite's blob_text_pending.
func (db *DB) FlushIndex(ctx context.Context) error { return nil }

// IndexBacklog counts the blobs without a blob_text row: none that
// InsertBlob stored, so a number above 0 means blobs stored some other
// way (by hand, or by a build that did not index). SEARCH reads them all
// the same, as candidates for every text key; they only cost it time.
func (db *DB) IndexBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM blobs b
		WHERE NOT EXISTS (SELECT 1 FROM blob_text t WHERE t.blob_id = b.id)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: index backlog: %w", err)
	}
	return n, nil
}

// searchBackfillBatch bounds the blobs one backfill transaction covers.
const searchBackfillBatch = 500

// BackfillHeaders stores the decoded header text (blob_headers) of the
// blobs that have none, a batch per write transaction, with the search
// text function, and returns how many it stored. The PostgreSQL schema
// has had blob_headers since its first database, but InsertBlob stores
// no row for a blob whose header text is empty (as the SQLite store), and
// a blob stored otherwise may lack one; SEARCH decodes such blobs'
// headers each time until this has run. Several nodes may run it at once:
// a row another node (or a delivery) stored first is left as it is.
func (db *DB) BackfillHeaders(ctx context.Context) (int, error) {
	total := 0
	after := int64(0)
	for {
		rows, err := db.pool.Query(ctx, `SELECT b.id, b.data FROM blobs b
			WHERE b.id > $1 AND NOT EXISTS (SELECT 1 FROM blob_headers h WHERE h.blob_id = b.id)
			ORDER BY b.id LIMIT $2`, after, searchBackfillBatch)
		if err != nil {
			return total, fmt.Errorf("store: backfill headers: %w", err)
		}
		var ids []int64
		var texts []string
		for rows.Next() {
			var id int64
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return total, fmt.Errorf("store: backfill headers: %w", err)
			}
			ids, texts = append(ids, id), append(texts, db.searchTextOf(data, false).Header)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("store: backfill headers: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		var n int64
		err = db.write(ctx, func(tx *Tx) error {
			// FOR KEY SHARE waits for a transaction removing the blob and
			// then skips it, so a blob gone meanwhile is left out rather
			// than failing the foreign key.
			tag, err := tx.exec(`INSERT INTO blob_headers(blob_id, text)
				SELECT b.id, u.text FROM unnest($1::bigint[], $2::text[]) AS u(id, text)
				JOIN blobs b ON b.id = u.id FOR KEY SHARE OF b
				ON CONFLICT (blob_id) DO NOTHING`, ids, texts)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: backfill headers: %w", err)
		}
		total += int(n)
		// Rows not stored (gone, or stored by someone else) are not read
		// again: the next batch starts after this one.
		after = ids[len(ids)-1]
		if len(ids) < searchBackfillBatch {
			return total, nil
		}
	}
}
