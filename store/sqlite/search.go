package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"pillarbox/store"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// Search calls fn for every message of the mailbox that matches c, in UID
// order, with its sequence number when withSeq (else 0). Criteria past
// the limits give ErrSearchLimit; when ctx ends, the search stops with
// its error.
//
// Text keys take two passes. The first decodes the text of each message
// that may match (by the other keys and the full-text index) from the
// stored message, a few messages at a time, and records which text keys
// it contains; the second is the whole criteria in SQL, reading those
// results. So memory holds a few messages' text at a time, however many
// keys and messages there are.
func (s *Snapshot) Search(ctx context.Context, mailboxID int64, c *store.SearchCriteria, withSeq bool, fn func(uid, seq uint32) error) error {
	if err := c.Size().Check(); err != nil {
		return err
	}
	st := &searchState{ctx: ctx}
	token := s.db.searchSeq.Add(1)
	s.db.searches.Store(token, st)
	defer s.db.searches.Delete(token)
	b := &sqlBuilder{token: token, st: st}
	store.EachTextKey(c, b.addKey) // numbers the distinct text keys
	var expr string
	byBlob := false
	if len(b.keys) == 0 {
		expr = b.expr(c, exact)
	} else {
		// Criteria of text keys alone are decided by the first pass: the
		// UIDs it read are then the answer, unless sequence numbers are
		// wanted too.
		if !withSeq && onlyText(c) {
			b.uids = []uidBlob{}
		}
		if err := s.matchText(ctx, mailboxID, c, b); err != nil {
			return searchError(ctx, err)
		}
		if b.uids != nil {
			return textResult(b, fn)
		}
		if expr, byBlob = b.afterText(c); expr == "" {
			return nil
		}
	}
	inMailbox := "m.mailbox_id = ?"
	if byBlob {
		// '+' keeps SQLite from finding the mailbox's messages by index,
		// so that it looks up the few that can match by blob instead.
		inMailbox = "+m.mailbox_id = ?"
	}
	// The results come back as one string that SQLite builds ("uid" or
	// "uid:seq", comma-separated, in UID order): a row of database/sql
	// costs more than the search itself when most messages match.
	var q string
	var args []any
	if withSeq {
		q = `SELECT coalesce(group_concat(uid || ':' || seq, ','), '') FROM (SELECT uid, seq FROM
			(SELECT m.uid AS uid, row_number() OVER (ORDER BY m.uid) AS seq, ` + expr +
			` AS hit FROM messages m WHERE m.mailbox_id = ?) WHERE hit ORDER BY uid)`
		args = append(b.args, mailboxID)
	} else {
		q = `SELECT coalesce(group_concat(uid, ','), '') FROM (SELECT m.uid AS uid FROM messages m
			WHERE ` + inMailbox + ` AND ` + expr + ` ORDER BY m.uid)`
		args = append([]any{mailboxID}, b.args...)
	}
	var packed string
	if err := s.conn.QueryRowContext(ctx, q, args...).Scan(&packed); err != nil {
		return searchError(ctx, err)
	}
	var prev uint32
	for packed != "" {
		var item string
		item, packed, _ = strings.Cut(packed, ",")
		u, sq, _ := strings.Cut(item, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return fmt.Errorf("store: search: bad result %q", item)
		}
		var seq uint64
		if withSeq {
			if seq, err = strconv.ParseUint(sq, 10, 32); err != nil {
				return fmt.Errorf("store: search: bad result %q", item)
			}
		}
		if uint32(uid) <= prev {
			return fmt.Errorf("store: search: results out of order")
		}
		prev = uint32(uid)
		if err := fn(uint32(uid), uint32(seq)); err != nil {
			return err
		}
	}
	return nil
}

// searchError wraps err, or ctx's error when ctx ended: SQLite reports an
// interrupted query in words of its own.
func searchError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("store: search: %w", cerr)
	}
	return fmt.Errorf("store: search: %w", err)
}

// matchText is Search's first pass: it decodes the text of every message
// that may match c and records in b.st which of b's text keys each
// contains.
func (s *Snapshot) matchText(ctx context.Context, mailboxID int64, c *store.SearchCriteria, b *sqlBuilder) error {
	// The text is derived from the stored message (no copy of it is kept):
	// each candidate's data is read and decoded once.
	b.args = nil
	var lookupErr error
	b.pieces = s.lookupPieces(ctx, &lookupErr)
	where := b.expr(c, superset)
	if lookupErr != nil {
		return lookupErr
	}
	// Header keys alone read the stored header text (migration 18), and
	// the message only where a blob has none yet: the blob's row is not
	// even looked up for the others (a join would read a page of each
	// message, most of a search of every message's headers).
	q := `SELECT m.uid, m.blob_id, NULL, x.data FROM messages m JOIN blobs x ON x.id = m.blob_id
		WHERE m.mailbox_id = ? AND ` + where
	if !b.needBody {
		q = `SELECT m.uid, m.blob_id, h.text, CASE WHEN h.text IS NULL THEN (SELECT x.data FROM blobs x WHERE x.id = m.blob_id) END
			FROM messages m LEFT JOIN blob_headers h ON h.blob_id = m.blob_id
			WHERE m.mailbox_id = ? AND ` + where
	}
	rows, err := s.conn.QueryContext(ctx, q, append([]any{mailboxID}, b.args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	// Decoding and matching cost far more than reading: workers do them,
	// each with its own matcher, while this goroutine reads the rows. A
	// few batches of messages are in flight at a time, each of at most
	// jobBatch messages and about jobBatchBytes.
	workers := min(runtime.GOMAXPROCS(0), maxSearchWorkers)
	type job struct {
		blob   int64
		header string // the stored header text, if the blob has one
		data   []byte // else the message
	}
	jobs := make(chan []job, workers)
	results := make(chan map[int64]uint64, workers)
	for range workers {
		go func() {
			m := store.NewTextMatcher(b.keys)
			found := make(map[int64]uint64)
			for batch := range jobs {
				for _, j := range batch {
					text := store.MessageText{Header: j.header}
					if j.data != nil {
						text = s.db.searchText(j.data, b.needBody)
					}
					if f := m.Match(text); f != 0 {
						found[j.blob] = f
					}
				}
			}
			results <- found
		}()
	}
	err = func() error {
		defer close(jobs)
		seen := make(map[int64]struct{})
		var batch []job
		size := 0
		send := func() {
			if len(batch) > 0 {
				jobs <- batch
				batch, size = nil, 0
			}
		}
		defer send()
		for rows.Next() {
			var uid uint32
			var blob int64
			var header sql.NullString
			var data sql.RawBytes // the driver's copy, valid until Next
			if err := rows.Scan(&uid, &blob, &header, &data); err != nil {
				return err
			}
			if b.uids != nil {
				b.uids = append(b.uids, uidBlob{uid, blob})
			}
			if _, dup := seen[blob]; !dup {
				seen[blob] = struct{}{}
				j := job{blob: blob, header: header.String}
				if !header.Valid {
					j.data = bytes.Clone(data)
					if j.data == nil {
						j.data = []byte{}
					}
				}
				batch = append(batch, j)
				if size += len(j.header) + len(j.data); len(batch) == jobBatch || size >= jobBatchBytes {
					send()
				}
			}
			if s.db.searchRowHook != nil {
				s.db.searchRowHook()
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return rows.Err()
	}()
	// The workers' results join the largest of them.
	parts := make([]map[int64]uint64, workers)
	for i := range parts {
		parts[i] = <-results
	}
	slices.SortFunc(parts, func(x, y map[int64]uint64) int { return len(y) - len(x) })
	for _, p := range parts[1:] {
		maps.Copy(parts[0], p)
	}
	b.st.text = parts[0]
	return err
}

// uidBlob is a message the first pass read: its UID and its blob.
type uidBlob struct {
	uid  uint32
	blob int64
}

// onlyText reports whether c is text keys alone, ANDed (no address
// header, nor anything else), which the first pass decides exactly.
func onlyText(c *store.SearchCriteria) bool {
	for _, h := range c.Header {
		if store.AddressColumn(h) != "" {
			return false
		}
	}
	rest := *c
	rest.Header, rest.Body, rest.Text = nil, nil, nil
	// Whatever field SearchCriteria gains later counts against.
	return reflect.ValueOf(rest).IsZero()
}

// textResult calls fn, in UID order, with the messages of the first
// pass (b.uids, one row per message) whose blob contains every text key.
func textResult(b *sqlBuilder, fn func(uid, seq uint32) error) error {
	all := uint64(1)<<uint(len(b.keys)) - 1
	var uids []uint32
	for _, m := range b.uids {
		if b.st.text[m.blob]&all == all {
			uids = append(uids, m.uid)
		}
	}
	slices.Sort(uids)
	for _, uid := range uids {
		if err := fn(uid, 0); err != nil {
			return err
		}
	}
	return nil
}

// maxSearchWorkers bounds the goroutines that decode and match the
// messages of one search.
const maxSearchWorkers = 4

// A batch of a search's messages handed to a worker holds at most
// jobBatch messages, and stops growing past jobBatchBytes.
const (
	jobBatch      = 64
	jobBatchBytes = 1 << 20
)

// searchState is what one running search's SQL functions read, found by
// the search's token (DB.searches).
type searchState struct {
	ctx  context.Context
	text map[int64]uint64   // blob id → bit i set if it contains text key i; only blobs with some
	sets [][]store.UIDRange // UID sets too large to write into the SQL
}

// Names of the SQL functions that read a running search's state.
const (
	fnText  = "pillarbox_text"  // (token, blob id, key) → the blob contains text key number key
	fnInSet = "pillarbox_inset" // (token, set, uid) → uid is in set number set
)

// registerSearchFunctions adds the search functions to a new connection
// of the snapshot pool.
func (db *DB) registerSearchFunctions(c *sqlite3.SQLiteConn) error {
	text := func(token, blob, key int64) (bool, error) {
		st, err := db.runningSearch(token)
		if err != nil {
			return false, err
		}
		return st.text[blob]&(1<<uint(key)) != 0, nil
	}
	if err := c.RegisterFunc(fnText, text, true); err != nil {
		return fmt.Errorf("store: search: %w", err)
	}
	inSet := func(token, set, uid int64) (bool, error) {
		st, err := db.runningSearch(token)
		if err != nil {
			return false, err
		}
		return inRanges(st.sets[set], uint32(uid)), nil
	}
	if err := c.RegisterFunc(fnInSet, inSet, true); err != nil {
		return fmt.Errorf("store: search: %w", err)
	}
	return nil
}

// runningSearch returns the state of a running search, or its context's
// error once that ended, which stops the query at once.
func (db *DB) runningSearch(token int64) (*searchState, error) {
	v, ok := db.searches.Load(token)
	if !ok {
		return nil, fmt.Errorf("store: search: no search %d", token)
	}
	st := v.(*searchState)
	if err := st.ctx.Err(); err != nil {
		return nil, err
	}
	return st, nil
}
