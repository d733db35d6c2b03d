package sqlite

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"pillarbox/store"
	"slices"
	"strings"
)

// bumpModSeq gives the mailbox a new HIGHESTMODSEQ and returns it.
func (tx *Tx) bumpModSeq(mailboxID int64) (uint64, error) {
	var m uint64
	err := tx.queryRow(`UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ? RETURNING highestmodseq`,
		mailboxID).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: mailbox %d: %w", mailboxID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: modseq: %w", err)
	}
	return m, nil
}

// SetFlags changes the flags of the messages with UIDs in ranges: system
// flags are the bits of flags (Flag*), other keywords are compared without
// regard to case. Only the messages whose flags change are returned, in UID
// order, with their sequence numbers.
func (tx *Tx) SetFlags(mailboxID int64, ranges []store.UIDRange, op store.FlagOp, flags int, keywords []string) ([]store.FlagChange, error) {
	modseq, err := tx.bumpModSeq(mailboxID)
	if err != nil {
		return nil, err
	}
	var changed []store.FlagChange
	if op == store.FlagsReplace || len(keywords) == 0 {
		changed, err = tx.setFlagsSQL(mailboxID, ranges, op, flags, strings.Join(keywords, " "), modseq)
	} else {
		changed, err = tx.setKeywords(mailboxID, ranges, op, flags, keywords, modseq)
	}
	if err != nil {
		return nil, fmt.Errorf("store: set flags: %w", err)
	}
	if len(changed) == 0 {
		// Nothing changed: HIGHESTMODSEQ stays where it was, so that the
		// change feed (mailbox.Service) sees a MODSEQ for every step.
		if _, err := tx.exec(`UPDATE mailboxes SET highestmodseq = highestmodseq - 1 WHERE id = ?`, mailboxID); err != nil {
			return nil, fmt.Errorf("store: set flags: %w", err)
		}
		return nil, nil
	}
	if op != store.FlagsRemove && len(changed) > 0 {
		if err := tx.noteKeywords(mailboxID, strings.Join(keywords, " ")); err != nil {
			return nil, err
		}
	}
	slicesSortChanges(changed)
	uids := make([]uint32, len(changed))
	for i, c := range changed {
		uids[i] = c.UID
	}
	seqs, err := tx.positions(mailboxID, uids)
	if err != nil {
		return nil, err
	}
	for i := range changed {
		changed[i].Seq = seqs[i]
	}
	return changed, nil
}

// setFlagsSQL changes system flags (and replaces keywords) in one
// statement per range.
func (tx *Tx) setFlagsSQL(mailboxID int64, ranges []store.UIDRange, op store.FlagOp, flags int, keywords string, modseq uint64) ([]store.FlagChange, error) {
	var q string
	var args []any
	switch op {
	case store.FlagsAdd:
		q = `UPDATE messages SET flags = flags | ?1, modseq = ?2
			WHERE mailbox_id = ?3 AND uid BETWEEN ?4 AND ?5 AND flags & ?1 != ?1 RETURNING uid, flags, keywords`
		args = []any{flags, modseq, mailboxID}
	case store.FlagsRemove:
		q = `UPDATE messages SET flags = flags & ~?1, modseq = ?2
			WHERE mailbox_id = ?3 AND uid BETWEEN ?4 AND ?5 AND flags & ?1 != 0 RETURNING uid, flags, keywords`
		args = []any{flags, modseq, mailboxID}
	default:
		q = `UPDATE messages SET flags = ?1, keywords = ?6, modseq = ?2
			WHERE mailbox_id = ?3 AND uid BETWEEN ?4 AND ?5 AND (flags != ?1 OR keywords != ?6) RETURNING uid, flags, keywords`
		args = []any{flags, modseq, mailboxID}
	}
	var out []store.FlagChange
	for _, r := range ranges {
		a := append(append([]any(nil), args...), r.Start, r.Stop)
		if op == store.FlagsReplace {
			a = append(a, keywords)
		}
		rows, err := tx.query(q, a...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			c := store.FlagChange{ModSeq: modseq}
			var kw string
			if err := rows.Scan(&c.UID, &c.Flags, &kw); err != nil {
				rows.Close()
				return nil, err
			}
			c.Keywords = strings.Fields(kw)
			out = append(out, c)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setKeywords adds or removes keywords (with system flags) message by
// message.
func (tx *Tx) setKeywords(mailboxID int64, ranges []store.UIDRange, op store.FlagOp, flags int, keywords []string, modseq uint64) ([]store.FlagChange, error) {
	type row struct {
		uid   uint32
		flags int
		kw    string
	}
	var out []store.FlagChange
	for _, r := range ranges {
		var rs []row
		rows, err := tx.query(`SELECT uid, flags, keywords FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`,
			mailboxID, r.Start, r.Stop)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var x row
			if err := rows.Scan(&x.uid, &x.flags, &x.kw); err != nil {
				rows.Close()
				return nil, err
			}
			rs = append(rs, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, x := range rs {
			nf, kw, changed := store.AddRemoveKeywords(x.flags, strings.Fields(x.kw), op, flags, keywords)
			if !changed {
				continue
			}
			if _, err := tx.exec(`UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?`,
				nf, strings.Join(kw, " "), modseq, mailboxID, x.uid); err != nil {
				return nil, err
			}
			out = append(out, store.FlagChange{UID: x.uid, Flags: nf, Keywords: kw, ModSeq: modseq})
		}
	}
	return out, nil
}

// slicesSortChanges sorts by UID: RETURNING gives rows in no particular
// order.
func slicesSortChanges(c []store.FlagChange) {
	slices.SortFunc(c, func(a, b store.FlagChange) int { return cmp.Compare(a.UID, b.UID) })
}

// positions returns the sequence number of each of the given UIDs, which
// must be ascending and present in the mailbox.
func (tx *Tx) positions(mailboxID int64, uids []uint32) ([]uint32, error) {
	out := make([]uint32, len(uids))
	if len(uids) == 0 {
		return out, nil
	}
	var total uint32
	if err := tx.queryRow(`SELECT messages FROM mailbox_counts WHERE mailbox_id = ?`, mailboxID).Scan(&total); err != nil {
		return nil, fmt.Errorf("store: positions: %w", err)
	}
	below, err := countBelow(tx.queryRow, mailboxID, uids[0], total)
	if err != nil {
		return nil, err
	}
	if len(uids) <= 8 {
		// A count per gap costs less than walking a long span.
		out[0] = below + 1
		for i := 1; i < len(uids); i++ {
			var gap uint32
			if uids[i] > uids[i-1]+1 {
				if err := tx.queryRow(`SELECT count(*) FROM messages WHERE mailbox_id = ? AND uid > ? AND uid < ?`,
					mailboxID, uids[i-1], uids[i]).Scan(&gap); err != nil {
					return nil, fmt.Errorf("store: positions: %w", err)
				}
			}
			out[i] = out[i-1] + gap + 1
		}
		return out, nil
	}
	rows, err := tx.query(`SELECT uid FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`,
		mailboxID, uids[0], uids[len(uids)-1])
	if err != nil {
		return nil, fmt.Errorf("store: positions: %w", err)
	}
	defer rows.Close()
	seq, i := below, 0
	for rows.Next() && i < len(uids) {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return nil, fmt.Errorf("store: positions: %w", err)
		}
		seq++
		if uid == uids[i] {
			out[i] = seq
			i++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: positions: %w", err)
	}
	if i < len(uids) {
		return nil, fmt.Errorf("store: positions: uid %d not in mailbox %d", uids[i], mailboxID)
	}
	return out, nil
}

// ExpungeDeleted removes the messages with \Deleted, only those with UIDs
// in ranges unless ranges is nil, and returns them in UID order.
func (tx *Tx) ExpungeDeleted(mailboxID int64, ranges []store.UIDRange) ([]store.Removed, error) {
	if ranges == nil {
		ranges = []store.UIDRange{{Start: 1, Stop: 0xffffffff}}
	}
	var uids []uint32
	for _, r := range ranges {
		rows, err := tx.query(`SELECT uid FROM messages WHERE mailbox_id = ? AND flags & 8 != 0 AND uid BETWEEN ? AND ? ORDER BY uid`,
			mailboxID, r.Start, r.Stop)
		if err != nil {
			return nil, fmt.Errorf("store: expunge: %w", err)
		}
		for rows.Next() {
			var uid uint32
			if err := rows.Scan(&uid); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: expunge: %w", err)
			}
			uids = append(uids, uid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: expunge: %w", err)
		}
	}
	return tx.RemoveMessages(mailboxID, uids)
}

// RemoveMessages removes the messages with the given ascending UIDs from
// a mailbox and returns those it removed with their sequence numbers.
// Every removal of messages from a mailbox that stays goes through here:
// it raises the mailbox's HIGHESTMODSEQ and remembers each UID with that
// MODSEQ in vanished, for VanishedSince (RFC 7162 3.2: EXPUNGE, UID
// EXPUNGE, CLOSE and MOVE must increment the mailbox's mod-sequence and
// associate it with the expunged UIDs).
func (tx *Tx) RemoveMessages(mailboxID int64, uids []uint32) ([]store.Removed, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	seqs, err := tx.positions(mailboxID, uids)
	if err != nil {
		return nil, err
	}
	modseq, err := tx.bumpModSeq(mailboxID)
	if err != nil {
		return nil, err
	}
	out := make([]store.Removed, len(uids))
	for i, uid := range uids {
		if _, err := tx.exec(`DELETE FROM messages WHERE mailbox_id = ? AND uid = ?`, mailboxID, uid); err != nil {
			return nil, fmt.Errorf("store: remove: %w", err)
		}
		if _, err := tx.exec(`INSERT INTO vanished(mailbox_id, uid, modseq) VALUES (?, ?, ?)`, mailboxID, uid, modseq); err != nil {
			return nil, fmt.Errorf("store: remove: remember uid %d: %w", uid, err)
		}
		out[i] = store.Removed{UID: uid, Seq: seqs[i], ModSeq: modseq}
	}
	tx.housework += len(uids)
	return out, nil
}

// CopyMessages copies the messages of src with UIDs in ranges to dst, in
// UID order, sharing their blobs; flags, keywords and internal dates go
// with them.
func (tx *Tx) CopyMessages(src int64, ranges []store.UIDRange, dst int64) ([]store.Copied, error) {
	type row struct {
		uid        uint32
		blob       int64
		date, size int64
		flags      int
		keywords   string
	}
	var rs []row
	for _, r := range ranges {
		rows, err := tx.query(`SELECT uid, blob_id, internal_date, size, flags, keywords FROM messages
			WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, src, r.Start, r.Stop)
		if err != nil {
			return nil, fmt.Errorf("store: copy: %w", err)
		}
		for rows.Next() {
			var x row
			if err := rows.Scan(&x.uid, &x.blob, &x.date, &x.size, &x.flags, &x.keywords); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: copy: %w", err)
			}
			rs = append(rs, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: copy: %w", err)
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	var first uint32
	var modseq uint64
	err := tx.queryRow(`UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + 1
		WHERE id = ? RETURNING uidnext - ?, highestmodseq`, len(rs), dst, len(rs)).Scan(&first, &modseq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: copy: mailbox %d: %w", dst, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	if uint64(first)+uint64(len(rs)) > 0xffffffff {
		return nil, fmt.Errorf("store: copy: mailbox %d: UIDs exhausted", dst)
	}
	out := make([]store.Copied, len(rs))
	noted := map[string]bool{}
	for _, x := range rs {
		if x.keywords != "" && !noted[x.keywords] {
			noted[x.keywords] = true
			if err := tx.noteKeywords(dst, x.keywords); err != nil {
				return nil, err
			}
		}
	}
	for i, x := range rs {
		uid := first + uint32(i)
		if _, err := tx.exec(`INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size, flags, keywords, saved)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, `+savedNow+`)`, dst, uid, modseq, x.blob, x.date, x.size, x.flags, x.keywords); err != nil {
			return nil, fmt.Errorf("store: copy: %w", err)
		}
		out[i] = store.Copied{SrcUID: x.uid, DstUID: uid, ModSeq: modseq, Keywords: strings.Fields(x.keywords)}
	}
	return out, nil
}
