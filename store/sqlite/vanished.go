package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"pillarbox/store"
	"slices"
	"strings"
)

// What QRESYNC (RFC 7162) asks of the store: the messages whose MODSEQ
// passed a client's (ChangedSince), and the UIDs expunged since it
// (VanishedSince). Expunged UIDs are rows of vanished, written by
// RemoveMessages; PruneVanished bounds them per mailbox and raises the
// mailbox's vanished_floor past every row it forgets, so that an answer
// is exact or says it is not (see migrations/*_vanished.sql).

// changedQuery reads the changed messages of a UID range. INDEXED BY
// holds SQLite to messages_modseq: a client resynchronising asks for
// the changes since a recent MODSEQ, a short range of that index,
// whatever the size of the mailbox; without it the planner walks the
// whole mailbox in UID order (the (mailbox_id, uid) key) to spare itself
// the sort. The statement fails, rather than slows down, if the index
// goes. The price is paid by a client asking from far back: the rows
// then come through the index and are sorted (about 120 ms for 90,000
// changed messages on the test machine, against a few µs for an
// unchanged mailbox).
const changedQuery = `SELECT uid, modseq, flags, keywords FROM messages INDEXED BY messages_modseq
	WHERE mailbox_id = ? AND modseq > ? AND uid BETWEEN ? AND ? ORDER BY uid`

// ChangedSince calls fn, in UID order, with every message of the mailbox
// with a UID in [lo, hi] whose MODSEQ is above modseq: what FETCH
// (CHANGEDSINCE modseq) and SELECT (QRESYNC ...) report (RFC 7162 3.1.4,
// 3.2.5). The rows stream from one query in the snapshot; fn's error
// stops it and is returned as is.
func (s *Snapshot) ChangedSince(ctx context.Context, mailboxID int64, modseq uint64, lo, hi uint32, fn func(store.Changed) error) error {
	if lo > hi {
		return nil
	}
	rows, err := s.query(changedQuery, mailboxID, int64(modseq), lo, hi)
	if err != nil {
		return fmt.Errorf("store: changed since %d: %w", modseq, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c store.Changed
		var kw string
		if err := rows.Scan(&c.UID, &c.ModSeq, &c.Flags, &kw); err != nil {
			return fmt.Errorf("store: changed since %d: %w", modseq, err)
		}
		if kw != "" {
			c.Keywords = strings.Fields(kw)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: changed since %d: %w", modseq, err)
	}
	return nil
}

// vanishedQuery reads the UIDs expunged after a MODSEQ from the
// vanished_modseq index alone; they come in MODSEQ order and are sorted
// in Go (sorting in SQL would tempt the planner to walk the whole
// primary key for its order).
const vanishedQuery = `SELECT uid FROM vanished WHERE mailbox_id = ? AND modseq > ?`

// gapsQuery finds the UIDs missing between a mailbox's messages: each
// row is a range [prev+1, uid-1] of UIDs that were given and are gone.
// The window walks the (mailbox_id, uid) key once.
const gapsQuery = `SELECT prev + 1, uid - 1 FROM
	(SELECT uid, lag(uid, 1, 0) OVER (ORDER BY uid) AS prev FROM messages WHERE mailbox_id = ?)
	WHERE uid > prev + 1`

// VanishedSince returns, as sorted disjoint ranges, the UIDs expunged
// from the mailbox with a MODSEQ above modseq (RFC 7162 3.2.5, 3.2.10).
//
// If the mailbox has forgotten expunges that a client at modseq may not
// have seen (modseq is below the mailbox's vanished_floor), the exact
// list is gone: floorExceeded is then true and the ranges hold every UID
// below UIDNEXT that is not in the mailbox, which includes every UID
// expunged since modseq (UIDs are never given twice): a superset, whose
// extra UIDs a client does not have and ignores in VANISHED (EARLIER)
// (RFC 7162 3.2.10); a caller may narrow it to the known-uids of
// SELECT (QRESYNC ...) (3.2.5).
func (s *Snapshot) VanishedSince(ctx context.Context, mailboxID int64, modseq uint64) (uids []store.UIDRange, floorExceeded bool, err error) {
	var floor uint64
	var uidnext uint32
	err = s.queryRow(`SELECT vanished_floor, uidnext FROM mailboxes WHERE id = ?`, mailboxID).Scan(&floor, &uidnext)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("store: vanished: mailbox %d: %w", mailboxID, store.ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: vanished: %w", err)
	}
	if modseq < floor {
		uids, err := s.uidGaps(ctx, mailboxID, uidnext)
		return uids, true, err
	}
	rows, err := s.query(vanishedQuery, mailboxID, int64(modseq))
	if err != nil {
		return nil, false, fmt.Errorf("store: vanished: %w", err)
	}
	defer rows.Close()
	var list []uint32
	for rows.Next() {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return nil, false, fmt.Errorf("store: vanished: %w", err)
		}
		list = append(list, uid)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("store: vanished: %w", err)
	}
	slices.Sort(list)
	return toRanges(list), false, nil
}

// uidGaps returns the UIDs below uidnext that no message of the mailbox
// has.
func (s *Snapshot) uidGaps(ctx context.Context, mailboxID int64, uidnext uint32) ([]store.UIDRange, error) {
	rows, err := s.query(gapsQuery, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("store: vanished: gaps: %w", err)
	}
	defer rows.Close()
	var out []store.UIDRange
	for rows.Next() {
		var r store.UIDRange
		if err := rows.Scan(&r.Start, &r.Stop); err != nil {
			return nil, fmt.Errorf("store: vanished: gaps: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: vanished: gaps: %w", err)
	}
	// The rows end at the last message; the UIDs after it up to
	// UIDNEXT-1 went too.
	var last uint32
	err = s.queryRow(`SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = ?`, mailboxID).Scan(&last)
	if err != nil {
		return nil, fmt.Errorf("store: vanished: gaps: %w", err)
	}
	if uidnext > last+1 {
		out = append(out, store.UIDRange{Start: last + 1, Stop: uidnext - 1})
	}
	slices.SortFunc(out, func(a, b store.UIDRange) int { return cmp.Compare(a.Start, b.Start) })
	return out, nil
}

// toRanges turns ascending UIDs into ranges of consecutive ones.
func toRanges(uids []uint32) []store.UIDRange {
	var out []store.UIDRange
	for _, u := range uids {
		if n := len(out); n > 0 && out[n-1].Stop+1 == u {
			out[n-1].Stop = u
			continue
		}
		out = append(out, store.UIDRange{Start: u, Stop: u})
	}
	return out
}

// The queries of pruning: which mailboxes are over, where a mailbox's
// cut falls, and the oldest rows up to the cut.
const (
	overflowQuery = `SELECT mailbox_id FROM vanished GROUP BY mailbox_id HAVING count(*) > ?`
	pruneCutQuery = `SELECT modseq FROM vanished WHERE mailbox_id = ? ORDER BY modseq DESC LIMIT 1 OFFSET ?`
	pruneQuery    = `DELETE FROM vanished WHERE mailbox_id = ?1 AND uid IN
		(SELECT uid FROM vanished WHERE mailbox_id = ?1 AND modseq <= ?2 ORDER BY modseq LIMIT ?3)
		RETURNING modseq`
)

// VanishedOverflow returns the mailboxes that remember more than keep
// expunged UIDs, for PruneVanished. It reads the vanished_modseq index
// once, in mailbox order: a scan of every row, meant for a
// housekeeping task that runs every few minutes, off the writer.
func (db *DB) VanishedOverflow(ctx context.Context, keep int) ([]int64, error) {
	rows, err := db.rdb.QueryContext(ctx, overflowQuery, keep)
	if err != nil {
		return nil, fmt.Errorf("store: vanished overflow: %w", err)
	}
	return column[int64](rows, "vanished overflow")
}

// PruneVanished forgets up to limit of the oldest expunged UIDs of a
// mailbox beyond its newest keep, and raises the mailbox's
// vanished_floor to the highest MODSEQ it forgot, in the same
// transaction; it returns how many it forgot. An expunge of several UIDs
// shares one MODSEQ: the rows of the MODSEQ where the cut falls go too,
// so a mailbox may keep a little fewer than keep. A caller repeats it
// while it returns limit, so that no one transaction is long.
func (tx *Tx) PruneVanished(mailboxID int64, keep, limit int) (int64, error) {
	if keep < 0 || limit <= 0 {
		return 0, fmt.Errorf("store: prune vanished: keep %d, limit %d", keep, limit)
	}
	// The newest row that goes: the (keep+1)th from the newest.
	var cut int64
	err := tx.queryRow(pruneCutQuery, mailboxID, keep).Scan(&cut)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: prune vanished: %w", err)
	}
	// One statement picks and removes the rows, so the floor is the
	// highest MODSEQ of exactly those; the transaction makes the two
	// writes one step for every reader.
	rows, err := tx.query(pruneQuery, mailboxID, cut, limit)
	if err != nil {
		return 0, fmt.Errorf("store: prune vanished: %w", err)
	}
	var n, floor int64
	for rows.Next() {
		var m int64
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: prune vanished: %w", err)
		}
		n++
		floor = max(floor, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: prune vanished: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if _, err := tx.exec(`UPDATE mailboxes SET vanished_floor = max(vanished_floor, ?) WHERE id = ?`, floor, mailboxID); err != nil {
		return 0, fmt.Errorf("store: prune vanished: floor: %w", err)
	}
	return n, nil
}
