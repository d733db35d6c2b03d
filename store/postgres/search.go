package postgres

import (
	"context"
	"fmt"
	"maps"
	"runtime"

	"pillarbox/store"
)

// Search calls fn for every message of the mailbox that matches c, in UID
// order, with its sequence number when withSeq (else 0). Criteria past
// the limits give ErrSearchLimit; when ctx ends, the search stops with
// its error.
//
// Text keys take two passes, as in the SQLite store. The first reads the
// messages that may match (by the other keys and the full-text index,
// see search_index.go), decodes each one's text with the search text
// function and records which text keys it contains (the exact check);
// the second is the whole criteria in SQL, each text key being "the blob
// is one of those the first pass found it in". Memory holds a few
// messages' text at a time, however many keys and messages there are.
func (s *Snapshot) Search(ctx context.Context, mailboxID int64, c *store.SearchCriteria, withSeq bool, fn func(uid, seq uint32) error) error {
	if err := c.Size().Check(); err != nil {
		return err
	}
	b := &searchSQL{}
	store.EachTextKey(c, b.addKey) // numbers the distinct text keys
	if len(b.keys) > 0 {
		if err := s.searchText(ctx, mailboxID, c, b); err != nil {
			return searchFailed(ctx, err)
		}
	}
	b.args = []any{mailboxID}
	expr := b.expr(c, searchExact)
	q := `SELECT m.uid, 0::bigint FROM messages m WHERE m.mailbox_id = $1 AND ` + expr + ` ORDER BY m.uid`
	if withSeq {
		q = `SELECT uid, seq FROM (SELECT m.uid AS uid, row_number() OVER (ORDER BY m.uid) AS seq, ` + expr +
			` AS hit FROM messages m WHERE m.mailbox_id = $1) s WHERE hit ORDER BY uid`
	}
	rows, err := s.tx.Query(ctx, q, b.args...)
	if err != nil {
		return searchFailed(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid, seq uint32
		if err := rows.Scan(&uid, &seq); err != nil {
			return searchFailed(ctx, err)
		}
		if err := fn(uid, seq); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return searchFailed(ctx, err)
	}
	return nil
}

// searchFailed wraps err, or ctx's error when ctx ended (pgx then
// reports the cancelled query in words of its own).
func searchFailed(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("store: search: %w", cerr)
	}
	return fmt.Errorf("store: search: %w", err)
}

// searchWorkers bounds the goroutines that decode and match the
// messages of one search.
const searchWorkers = 4

// searchText is Search's first pass: it decodes the text of every
// message that may match c and records in b.hits, per text key, the
// blobs that contain it.
func (s *Snapshot) searchText(ctx context.Context, mailboxID int64, c *store.SearchCriteria, b *searchSQL) error {
	b.args = []any{mailboxID}
	where := b.expr(c, searchSuperset)
	// Header keys alone read the stored header text (migration 18), and
	// the message only where a blob has none.
	q := `SELECT m.blob_id, NULL::text, x.data FROM messages m JOIN blobs x ON x.id = m.blob_id
		WHERE m.mailbox_id = $1 AND ` + where
	if !b.needBody {
		q = `SELECT m.blob_id, h.text, CASE WHEN h.text IS NULL THEN x.data END
			FROM messages m JOIN blobs x ON x.id = m.blob_id LEFT JOIN blob_headers h ON h.blob_id = m.blob_id
			WHERE m.mailbox_id = $1 AND ` + where
	}
	rows, err := s.tx.Query(ctx, q, b.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	// Decoding and matching cost far more than reading: workers do them,
	// each with its own matcher, while this goroutine reads the rows.
	workers := min(runtime.GOMAXPROCS(0), searchWorkers)
	type job struct {
		blob   int64
		header *string // the stored header text, if the blob has one
		data   []byte  // else the message
	}
	jobs := make(chan job, workers)
	results := make(chan map[int64]uint64, workers)
	for range workers {
		go func() {
			m := store.NewTextMatcher(b.keys)
			found := make(map[int64]uint64)
			for j := range jobs {
				var text store.MessageText
				if j.header != nil {
					text.Header = *j.header
				} else {
					text = s.db.searchTextOf(j.data, b.needBody)
				}
				if f := m.Match(text); f != 0 {
					found[j.blob] = f
				}
			}
			results <- found
		}()
	}
	err = func() error {
		defer close(jobs)
		seen := make(map[int64]struct{})
		for rows.Next() {
			var j job
			if err := rows.Scan(&j.blob, &j.header, &j.data); err != nil {
				return err
			}
			if _, dup := seen[j.blob]; dup {
				continue
			}
			seen[j.blob] = struct{}{}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return rows.Err()
	}()
	text := make(map[int64]uint64)
	for range workers {
		maps.Copy(text, <-results)
	}
	if err != nil {
		return err
	}
	b.hits = make([][]int64, len(b.keys))
	for blob, bits := range text {
		for i := range b.keys {
			if bits&(1<<i) != 0 {
				b.hits[i] = append(b.hits[i], blob)
			}
		}
	}
	return nil
}
