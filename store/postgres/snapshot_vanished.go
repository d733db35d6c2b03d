package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// What QRESYNC (RFC 7162) asks of a snapshot: the messages whose MODSEQ
// passed a client's (ChangedSince), and the UIDs expunged since it
// (VanishedSince), as the SQLite store answers them (vanished.go there).

// snapChangedQuery reads the changed messages of a UID range. PostgreSQL
// has no INDEXED BY; with the range condition on modseq it picks
// messages_modseq for a recent MODSEQ by its own estimate.
const snapChangedQuery = `SELECT uid, modseq, flags, keywords FROM messages
	WHERE mailbox_id = $1 AND modseq > $2 AND uid BETWEEN $3 AND $4 ORDER BY uid`

// ChangedSince calls fn, in UID order, with every message of the mailbox
// with a UID in [lo, hi] whose MODSEQ is above modseq: what FETCH
// (CHANGEDSINCE modseq) and SELECT (QRESYNC ...) report (RFC 7162 3.1.4,
// 3.2.5). The rows stream from one query in the snapshot; fn's error
// stops it and is returned as is.
func (s *Snapshot) ChangedSince(ctx context.Context, mailboxID int64, modseq uint64, lo, hi uint32, fn func(store.Changed) error) error {
	if lo > hi {
		return nil
	}
	rows, err := s.tx.Query(ctx, snapChangedQuery, mailboxID, int64(min(modseq, 1<<63-1)), int64(lo), int64(hi))
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

// VanishedSince returns, as sorted disjoint ranges, the UIDs expunged
// from the mailbox with a MODSEQ above modseq (RFC 7162 3.2.5, 3.2.10).
//
// If the mailbox has forgotten expunges that a client at modseq may not
// have seen (modseq is below the mailbox's vanished_floor), the exact
// list is gone: floorExceeded is then true and the ranges hold every UID
// below UIDNEXT that is not in the mailbox, a superset of those expunged
// since modseq (UIDs are never given twice), as the SQLite store answers.
func (s *Snapshot) VanishedSince(ctx context.Context, mailboxID int64, modseq uint64) (uids []store.UIDRange, floorExceeded bool, err error) {
	var floor uint64
	var uidnext uint32
	err = s.tx.QueryRow(ctx, `SELECT vanished_floor, uidnext FROM mailboxes WHERE id = $1`, mailboxID).Scan(&floor, &uidnext)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("store: vanished: mailbox %d: %w", mailboxID, store.ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: vanished: %w", err)
	}
	if modseq < floor {
		uids, err := s.snapUIDGaps(ctx, mailboxID, uidnext)
		return uids, true, err
	}
	// From vanished_modseq alone (uid is INCLUDEd), sorted in Go.
	rows, err := s.tx.Query(ctx, `SELECT uid FROM vanished WHERE mailbox_id = $1 AND modseq > $2`,
		mailboxID, int64(min(modseq, 1<<63-1)))
	if err != nil {
		return nil, false, fmt.Errorf("store: vanished: %w", err)
	}
	list, err := pgx.AppendRows([]uint32(nil), rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, false, fmt.Errorf("store: vanished: %w", err)
	}
	slices.Sort(list)
	return snapToRanges(list), false, nil
}

// snapUIDGaps returns the UIDs below uidnext that no message of the
// mailbox has: the gaps between its messages, which a window finds in
// one walk of the (mailbox_id, uid) key, and those after the last one.
func (s *Snapshot) snapUIDGaps(ctx context.Context, mailboxID int64, uidnext uint32) ([]store.UIDRange, error) {
	rows, err := s.tx.Query(ctx, `SELECT prev + 1, uid - 1 FROM
		(SELECT uid, lag(uid, 1, 0::bigint) OVER (ORDER BY uid) AS prev FROM messages WHERE mailbox_id = $1) g
		WHERE uid > prev + 1`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("store: vanished: gaps: %w", err)
	}
	out, err := pgx.AppendRows([]store.UIDRange(nil), rows, func(row pgx.CollectableRow) (store.UIDRange, error) {
		var r store.UIDRange
		err := row.Scan(&r.Start, &r.Stop)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: vanished: gaps: %w", err)
	}
	var last uint32
	err = s.tx.QueryRow(ctx, `SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = $1`, mailboxID).Scan(&last)
	if err != nil {
		return nil, fmt.Errorf("store: vanished: gaps: %w", err)
	}
	if uidnext > last+1 {
		out = append(out, store.UIDRange{Start: last + 1, Stop: uidnext - 1})
	}
	slices.SortFunc(out, func(a, b store.UIDRange) int { return cmp.Compare(a.Start, b.Start) })
	return out, nil
}

// snapToRanges turns ascending UIDs into ranges of consecutive ones.
func snapToRanges(uids []uint32) []store.UIDRange {
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
