package sqlite

import (
	"context"
	"fmt"

	"pillarbox/store"
)

// reindexBatch bounds the blobs one ReindexText write covers.
const reindexBatch = 64

// ReindexText takes the blobs stored at text version 0 (before migration
// 0025) to the current one, a batch per write, and returns how many it
// took: their part headers' words join the index, so that SEARCH TEXT
// finds them as it does in newer mail. SetSearchText must have been
// called. Search works meanwhile, with the old blobs' part headers out of
// reach of TEXT until their turn.
//
// A blob's old words leave the index by FTS4's delete, which reads them
// from the view at the blob's version, here staged beforehand as the
// indexer stages a removal's; its new terms become pending text, which
// the indexer moves into the index as a delivery's. A blob released
// meanwhile is left to its removal.
func (db *DB) ReindexText(ctx context.Context) (int, error) {
	total := 0
	after := int64(0)
	for {
		type item struct {
			id           int64
			header, body string // the new index terms
			same         bool   // no part headers: the words do not change
		}
		var batch []item
		var staged []int64
		rows, err := db.rdb.QueryContext(ctx, `SELECT id, data FROM blobs WHERE text_version = 0 AND id > ? ORDER BY id LIMIT ?`,
			after, reindexBatch)
		if err != nil {
			return total, fmt.Errorf("store: reindex: %w", err)
		}
		for rows.Next() {
			var id int64
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				db.staged.drop(staged)
				return total, fmt.Errorf("store: reindex: %w", err)
			}
			text := db.searchText(data, true)
			if text.Parts == "" {
				batch = append(batch, item{id: id, same: true})
				continue
			}
			h, b := text.Terms()
			batch = append(batch, item{id: id, header: h, body: b})
			// Version 0's words: the header's alone (MessageText.Terms
			// without parts), and the same body.
			db.staged.put(id, indexJoin(store.IndexTerms(text.Header), b))
			staged = append(staged, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			db.staged.drop(staged)
			return total, fmt.Errorf("store: reindex: %w", err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		var n int
		err = db.write(ctx, func(tx *Tx) error {
			for _, it := range batch {
				done, err := tx.reindexBlob(it.id, it.header, it.body, it.same)
				if err != nil {
					return fmt.Errorf("store: reindex blob %d: %w", it.id, err)
				}
				if done {
					n++
				}
			}
			return nil
		})
		db.staged.drop(staged)
		if err != nil {
			return total, err
		}
		total += n
		after = batch[len(batch)-1].id
		if len(batch) < reindexBatch {
			return total, nil
		}
	}
}

// reindexBlob takes blob id, if it is still at text version 0 and not
// released, to the current version with these index terms (or its words
// as they are, if same), and reports whether it did.
func (tx *Tx) reindexBlob(id int64, headerTerms, bodyTerms string, same bool) (bool, error) {
	var pending, ok bool
	err := tx.queryRow(`SELECT EXISTS (SELECT 1 FROM blob_text_pending WHERE blob_id = ?1),
		EXISTS (SELECT 1 FROM blobs WHERE id = ?1 AND text_version = 0)
		AND NOT EXISTS (SELECT 1 FROM blobs_released WHERE blob_id = ?1)`, id).Scan(&pending, &ok)
	if err != nil || !ok {
		return false, err
	}
	switch {
	case same:
	case pending:
		_, err = tx.exec(`UPDATE blob_text_pending SET header = ?, body = ? WHERE blob_id = ?`, headerTerms, bodyTerms, id)
	default:
		// The staged old words: the view would derive them at version 0.
		if _, err = tx.exec(`DELETE FROM blob_text WHERE docid = ?`, id); err != nil {
			return false, err
		}
		_, err = tx.exec(`INSERT INTO blob_text_pending(blob_id, header, body) VALUES (?, ?, ?)`, id, headerTerms, bodyTerms)
		tx.housework++
	}
	if err != nil {
		return false, err
	}
	_, err = tx.exec(`UPDATE blobs SET text_version = ? WHERE id = ?`, textVersion, id)
	return err == nil, err
}
