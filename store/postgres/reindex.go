package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// reindexBatch bounds the blobs one ReindexText transaction covers.
const reindexBatch = 64

// ReindexText takes the blobs stored at text version 0 (before migration
// 0025) to the current one, a batch per write transaction, and returns
// how many it took: their blob_text rows are derived again, with the
// words of their part headers, so that SEARCH TEXT finds those as it does
// in newer mail. SetSearchText must have been called. Search works
// meanwhile. Several nodes may run it at once: a blob another node took
// first, or that is gone, is left as it is.
func (db *DB) ReindexText(ctx context.Context) (int, error) {
	total := 0
	after := int64(0)
	for {
		type item struct {
			id           int64
			header, body string
			same         bool // no part headers: the row does not change
		}
		var batch []item
		rows, err := db.pool.Query(ctx, `SELECT id, data FROM blobs WHERE text_version = 0 AND id > $1 ORDER BY id LIMIT $2`,
			after, reindexBatch)
		if err != nil {
			return total, fmt.Errorf("store: reindex: %w", err)
		}
		for rows.Next() {
			var id int64
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return total, fmt.Errorf("store: reindex: %w", err)
			}
			text := db.searchTextOf(data, true)
			h, b := text.Terms()
			batch = append(batch, item{id, h, b, text.Parts == ""})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("store: reindex: %w", err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		var n int
		err = db.write(ctx, func(tx *Tx) error {
			n = 0
			for _, it := range batch {
				// The row lock keeps the blob until the commit, and leaves
				// out one removed or taken meanwhile.
				var one int
				err := tx.queryRow(`SELECT 1 FROM blobs WHERE id = $1 AND text_version = 0 FOR UPDATE`, it.id).Scan(&one)
				if errors.Is(err, pgx.ErrNoRows) {
					continue
				}
				if err != nil {
					return err
				}
				n++
				if it.same {
					if _, err := tx.exec(`UPDATE blobs SET text_version = $2 WHERE id = $1`, it.id, textVersion); err != nil {
						return err
					}
					continue
				}
				if _, err := tx.exec(`DELETE FROM blob_text WHERE blob_id = $1`, it.id); err != nil {
					return err
				}
				if err := IndexBlob(tx.ctx, tx.tx, it.id, it.header, it.body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("store: reindex: %w", err)
		}
		total += n
		after = batch[len(batch)-1].id
		if len(batch) < reindexBatch {
			return total, nil
		}
	}
}
