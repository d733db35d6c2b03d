package postgres

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// Every write that hands out UIDs or MODSEQs in a mailbox, or reads what
// it is about to change there, first takes the mailbox row's lock, inside
// the writer's transaction (UPDATE mailboxes ... RETURNING, or SELECT ...
// FOR NO KEY UPDATE, the same lock without the bump). Writers of several
// nodes changing one mailbox thus take turns, and each sees, in its later
// statements (READ COMMITTED), all that the one before it committed:
// UIDNEXT and HIGHESTMODSEQ only grow, in commit order, and the sequence
// numbers a write reports are those of the mailbox as it leaves it. NO
// KEY UPDATE leaves alone the key-share locks that inserting rows which
// refer to the mailbox takes. MODSEQs are per mailbox, as in SQLite: the
// mailbox's highestmodseq plus one.

// msgLockMailbox takes the mailbox row's lock; false if there is no such
// mailbox.
func (tx *Tx) msgLockMailbox(id int64) (bool, error) {
	var one int
	err := tx.queryRow(`SELECT 1 FROM mailboxes WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: lock mailbox %d: %w", id, err)
	}
	return true, nil
}

// LockMailbox implements store.Tx: the mailbox row's lock.
func (tx *Tx) LockMailbox(id int64) error {
	found, err := tx.msgLockMailbox(id)
	if err == nil && !found {
		err = fmt.Errorf("store: mailbox %d: %w", id, store.ErrNotFound)
	}
	return err
}

// msgBumpModSeq takes the mailbox row's lock, gives the mailbox a new
// HIGHESTMODSEQ and returns it.
func (tx *Tx) msgBumpModSeq(mailboxID int64) (uint64, error) {
	var m uint64
	err := tx.queryRow(`UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = $1 RETURNING highestmodseq`,
		mailboxID).Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("store: mailbox %d: %w", mailboxID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: modseq: %w", err)
	}
	return m, nil
}

// msgRangeArrays gives ranges as two arrays, the starts and the stops,
// for unnest($n::bigint[], $m::bigint[]): one statement for a whole UID
// set, one round trip to the server however many ranges it has.
func msgRangeArrays(ranges []store.UIDRange) (lo, hi []int64) {
	lo, hi = make([]int64, len(ranges)), make([]int64, len(ranges))
	for i, r := range ranges {
		lo[i], hi[i] = int64(r.Start), int64(r.Stop)
	}
	return lo, hi
}

// msgInRanges joins the ranges of $2 and $3 to the messages m of mailbox
// $1: a message comes once per range holding it, in the order of the
// ranges, then of UIDs (as SQLite's statement per range gives them).
const msgInRanges = ` FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS r(lo, hi, n)
	JOIN messages m ON m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi`

// msgUIDs runs a query returning UIDs and collects them.
func (tx *Tx) msgUIDs(what, query string, args ...any) ([]uint32, error) {
	rows, err := tx.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	if len(out) == 0 {
		return nil, nil // as SQLite's store answers none
	}
	return out, nil
}

// SetFlags changes the flags of the messages with UIDs in ranges: system
// flags are the bits of flags (Flag*), other keywords are compared without
// regard to case. Only the messages whose flags change are returned, in UID
// order, with their sequence numbers.
func (tx *Tx) SetFlags(mailboxID int64, ranges []store.UIDRange, op store.FlagOp, flags int, keywords []string) ([]store.FlagChange, error) {
	modseq, err := tx.msgBumpModSeq(mailboxID)
	if err != nil {
		return nil, err
	}
	var changed []store.FlagChange
	if op == store.FlagsReplace || len(keywords) == 0 {
		changed, err = tx.msgSetFlagsSQL(mailboxID, ranges, op, flags, strings.Join(keywords, " "), modseq)
	} else {
		changed, err = tx.msgSetKeywords(mailboxID, ranges, op, flags, keywords, modseq)
	}
	if err != nil {
		return nil, fmt.Errorf("store: set flags: %w", err)
	}
	if len(changed) == 0 {
		// Nothing changed: HIGHESTMODSEQ stays where it was, so that the
		// change feed (mailbox.Service) sees a MODSEQ for every step.
		if _, err := tx.exec(`UPDATE mailboxes SET highestmodseq = highestmodseq - 1 WHERE id = $1`, mailboxID); err != nil {
			return nil, fmt.Errorf("store: set flags: %w", err)
		}
		return nil, nil
	}
	tx.touch(mailboxID)
	if op != store.FlagsRemove && len(changed) > 0 {
		if err := tx.msgNoteKeywords(mailboxID, strings.Fields(strings.Join(keywords, " "))); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(changed, func(a, b store.FlagChange) int { return cmp.Compare(a.UID, b.UID) })
	uids := make([]uint32, len(changed))
	for i, c := range changed {
		uids[i] = c.UID
	}
	seqs, err := tx.msgPositions(mailboxID, uids)
	if err != nil {
		return nil, err
	}
	for i := range changed {
		changed[i].Seq = seqs[i]
	}
	return changed, nil
}

// msgSetFlagsSQL changes system flags (and replaces keywords) in one
// statement. A message in two ranges changes once.
func (tx *Tx) msgSetFlagsSQL(mailboxID int64, ranges []store.UIDRange, op store.FlagOp, flags int, keywords string, modseq uint64) ([]store.FlagChange, error) {
	var set, cond string
	switch op {
	case store.FlagsAdd:
		set, cond = `flags = m.flags | $4::integer`, `m.flags & $4::integer <> $4::integer`
	case store.FlagsRemove:
		set, cond = `flags = m.flags & ~$4::integer`, `m.flags & $4::integer <> 0`
	default:
		set, cond = `flags = $4::integer, keywords = $6::text`, `(m.flags <> $4::integer OR m.keywords <> $6::text)`
	}
	lo, hi := msgRangeArrays(ranges)
	args := []any{mailboxID, lo, hi, int32(flags), int64(modseq)}
	if op == store.FlagsReplace {
		args = append(args, keywords)
	}
	rows, err := tx.query(`UPDATE messages m SET `+set+`, modseq = $5
		FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
		WHERE m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi AND `+cond+`
		RETURNING m.uid, m.flags, m.keywords`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.FlagChange
	for rows.Next() {
		c := store.FlagChange{ModSeq: modseq}
		var kw string
		if err := rows.Scan(&c.UID, &c.Flags, &kw); err != nil {
			return nil, err
		}
		c.Keywords = strings.Fields(kw)
		out = append(out, c)
	}
	return out, rows.Err()
}

// msgSetKeywords adds or removes keywords (with system flags): the
// messages are read, changed in Go (keywords compare without regard to
// case) and written back with one statement.
func (tx *Tx) msgSetKeywords(mailboxID int64, ranges []store.UIDRange, op store.FlagOp, flags int, keywords []string, modseq uint64) ([]store.FlagChange, error) {
	lo, hi := msgRangeArrays(ranges)
	// EXISTS rather than the join: a message in two ranges is read once.
	rows, err := tx.query(`SELECT uid, flags, keywords FROM messages m WHERE m.mailbox_id = $1 AND EXISTS
		(SELECT 1 FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) WHERE m.uid BETWEEN r.lo AND r.hi) ORDER BY uid`,
		mailboxID, lo, hi)
	if err != nil {
		return nil, err
	}
	type row struct {
		uid   uint32
		flags int
		kw    string
	}
	var rs []row
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
	var out []store.FlagChange
	var uids []int64
	var newFlags []int32
	var newKeywords []string
	for _, x := range rs {
		nf, kw, changed := store.AddRemoveKeywords(x.flags, strings.Fields(x.kw), op, flags, keywords)
		if !changed {
			continue
		}
		uids = append(uids, int64(x.uid))
		newFlags = append(newFlags, int32(nf))
		newKeywords = append(newKeywords, strings.Join(kw, " "))
		out = append(out, store.FlagChange{UID: x.uid, Flags: nf, Keywords: kw, ModSeq: modseq})
	}
	if len(out) == 0 {
		return nil, nil
	}
	_, err = tx.exec(`UPDATE messages m SET flags = v.flags, keywords = v.keywords, modseq = $2
		FROM unnest($3::bigint[], $4::integer[], $5::text[]) AS v(uid, flags, keywords)
		WHERE m.mailbox_id = $1 AND m.uid = v.uid`, mailboxID, int64(modseq), uids, newFlags, newKeywords)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// msgPositions returns the sequence number of each of the given UIDs,
// which must be ascending and present in the mailbox, as the transaction
// sees the mailbox (whose lock it holds).
func (tx *Tx) msgPositions(mailboxID int64, uids []uint32) ([]uint32, error) {
	out := make([]uint32, len(uids))
	if len(uids) == 0 {
		return out, nil
	}
	below, err := tx.msgCountBelow(mailboxID, uids[0])
	if err != nil {
		return nil, err
	}
	// The range between the first and the last is walked once, on the
	// server, which sends back only the positions asked for.
	want := make([]int64, len(uids))
	for i, u := range uids {
		want[i] = int64(u)
	}
	rows, err := tx.query(`SELECT uid, n FROM
		(SELECT uid, row_number() OVER (ORDER BY uid) AS n FROM messages WHERE mailbox_id = $1 AND uid BETWEEN $2 AND $3) s
		WHERE uid = ANY($4::bigint[]) ORDER BY uid`, mailboxID, uids[0], uids[len(uids)-1], want)
	if err != nil {
		return nil, fmt.Errorf("store: positions: %w", err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var uid uint32
		var n int64
		if err := rows.Scan(&uid, &n); err != nil {
			return nil, fmt.Errorf("store: positions: %w", err)
		}
		if i < len(uids) && uid == uids[i] {
			out[i] = below + uint32(n)
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

// msgCountBelow returns how many messages of a mailbox have a UID below
// uid, counting from the end nearer to uid (the total is the kept one).
func (tx *Tx) msgCountBelow(mailboxID int64, uid uint32) (uint32, error) {
	if uid <= 1 {
		return 0, nil
	}
	var total int64
	var lo, hi *int64
	err := tx.queryRow(`SELECT coalesce((SELECT messages FROM mailbox_counts WHERE mailbox_id = $1), 0),
		(SELECT min(uid) FROM messages WHERE mailbox_id = $1), (SELECT max(uid) FROM messages WHERE mailbox_id = $1)`,
		mailboxID).Scan(&total, &lo, &hi)
	if err != nil {
		return 0, fmt.Errorf("store: positions: %w", err)
	}
	switch {
	case lo == nil || int64(uid) <= *lo:
		return 0, nil
	case int64(uid) > *hi:
		return uint32(total), nil
	}
	var n int64
	if int64(uid)-*lo <= *hi-int64(uid) {
		err = tx.queryRow(`SELECT count(*) FROM messages WHERE mailbox_id = $1 AND uid < $2`, mailboxID, uid).Scan(&n)
	} else {
		err = tx.queryRow(`SELECT count(*) FROM messages WHERE mailbox_id = $1 AND uid >= $2`, mailboxID, uid).Scan(&n)
		n = total - n
	}
	if err != nil {
		return 0, fmt.Errorf("store: positions: %w", err)
	}
	return uint32(n), nil
}

// ModifiedSince returns, in UID order, the UIDs in ranges of the messages
// whose MODSEQ is above modseq: those STORE ... (UNCHANGEDSINCE modseq)
// leaves alone and reports as MODIFIED (RFC 7162 3.1.3). It takes the
// mailbox's lock first, so that no other node changes a message between
// this answer and the change that follows in the transaction.
func (tx *Tx) ModifiedSince(mailboxID int64, ranges []store.UIDRange, modseq uint64) ([]uint32, error) {
	if _, err := tx.msgLockMailbox(mailboxID); err != nil {
		return nil, err
	}
	lo, hi := msgRangeArrays(ranges)
	return tx.msgUIDs("modified since", `SELECT m.uid`+msgInRanges+` WHERE m.modseq > $4 ORDER BY r.n, m.uid`,
		mailboxID, lo, hi, int64(min(modseq, 1<<63-1)))
}

// ExpungeDeleted removes the messages with \Deleted, only those with UIDs
// in ranges unless ranges is nil, and returns them in UID order. The
// mailbox's lock comes before the look for them: another node expunging
// the same messages at once removes each only once.
func (tx *Tx) ExpungeDeleted(mailboxID int64, ranges []store.UIDRange) ([]store.Removed, error) {
	if ranges == nil {
		ranges = []store.UIDRange{{Start: 1, Stop: 0xffffffff}}
	}
	if _, err := tx.msgLockMailbox(mailboxID); err != nil {
		return nil, err
	}
	lo, hi := msgRangeArrays(ranges)
	uids, err := tx.msgUIDs("expunge", `SELECT m.uid`+msgInRanges+` WHERE m.flags & 8 <> 0 ORDER BY r.n, m.uid`,
		mailboxID, lo, hi)
	if err != nil {
		return nil, err
	}
	return tx.RemoveMessages(mailboxID, uids)
}

// RemoveMessages removes the messages with the given ascending UIDs from
// a mailbox and returns those it removed with their sequence numbers.
// Every removal of messages from a mailbox that stays goes through here:
// it raises the mailbox's HIGHESTMODSEQ and remembers each UID with that
// MODSEQ in vanished, for VanishedSince (RFC 7162 3.2).
//
// Unlike SQLite's, where a UID not in the mailbox is an error, UIDs that
// are no longer there are left out: with several nodes, another may have
// removed them (and announced it) since the caller read them. Nothing is
// done, and no MODSEQ used, when none is left.
func (tx *Tx) RemoveMessages(mailboxID int64, uids []uint32) ([]store.Removed, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	found, err := tx.msgLockMailbox(mailboxID)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("store: mailbox %d: %w", mailboxID, store.ErrNotFound)
	}
	asked := make([]int64, len(uids))
	for i, u := range uids {
		asked[i] = int64(u)
	}
	present, err := tx.msgUIDs("remove", `SELECT uid FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid`,
		mailboxID, asked)
	if err != nil || len(present) == 0 {
		return nil, err
	}
	seqs, err := tx.msgPositions(mailboxID, present)
	if err != nil {
		return nil, err
	}
	modseq, err := tx.msgBumpModSeq(mailboxID)
	if err != nil {
		return nil, err
	}
	tx.touch(mailboxID)
	gone := make([]int64, len(present))
	for i, u := range present {
		gone[i] = int64(u)
	}
	if _, err := tx.exec(`DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])`, mailboxID, gone); err != nil {
		return nil, fmt.Errorf("store: remove: %w", err)
	}
	if _, err := tx.exec(`INSERT INTO vanished(mailbox_id, uid, modseq) SELECT $1, u, $3 FROM unnest($2::bigint[]) AS u`,
		mailboxID, gone, int64(modseq)); err != nil {
		return nil, fmt.Errorf("store: remove: remember uids: %w", err)
	}
	out := make([]store.Removed, len(present))
	for i, uid := range present {
		out[i] = store.Removed{UID: uid, Seq: seqs[i], ModSeq: modseq}
	}
	return out, nil
}

// CopyMessages copies the messages of src with UIDs in ranges to dst, in
// UID order, sharing their blobs; flags, keywords and internal dates go
// with them. Both mailboxes are locked first, in the order of their ids
// (so two copies in opposite directions do not deadlock): what is copied
// is what src holds while dst's UIDs are handed out.
func (tx *Tx) CopyMessages(src int64, ranges []store.UIDRange, dst int64) ([]store.Copied, error) {
	if _, err := tx.exec(`SELECT id FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE`,
		[]int64{src, dst}); err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	lo, hi := msgRangeArrays(ranges)
	rows, err := tx.query(`SELECT m.uid, m.keywords`+msgInRanges+` ORDER BY r.n, m.uid`, src, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	var srcUIDs []int64
	var kws []string
	for rows.Next() {
		var uid int64
		var kw string
		if err := rows.Scan(&uid, &kw); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: copy: %w", err)
		}
		srcUIDs = append(srcUIDs, uid)
		kws = append(kws, kw)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	n := len(srcUIDs)
	if n == 0 {
		return nil, nil
	}
	var first int64
	var modseq uint64
	tx.touch(dst)
	err = tx.queryRow(`UPDATE mailboxes SET uidnext = uidnext + $1, highestmodseq = highestmodseq + 1
		WHERE id = $2 RETURNING uidnext - $1, highestmodseq`, int64(n), dst).Scan(&first, &modseq)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: copy: mailbox %d: %w", dst, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	if first+int64(n) > 0xffffffff {
		return nil, fmt.Errorf("store: copy: mailbox %d: UIDs exhausted", dst)
	}
	var words []string
	for _, kw := range kws {
		words = append(words, strings.Fields(kw)...)
	}
	if err := tx.msgNoteKeywords(dst, words); err != nil {
		return nil, err
	}
	dstUIDs := make([]int64, n)
	out := make([]store.Copied, n)
	for i := range n {
		dstUIDs[i] = first + int64(i)
		out[i] = store.Copied{SrcUID: uint32(srcUIDs[i]), DstUID: uint32(dstUIDs[i]), ModSeq: modseq, Keywords: strings.Fields(kws[i])}
	}
	tag, err := tx.exec(`INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size, flags, keywords, saved)
		SELECT $1, v.dst, $2, m.blob_id, m.internal_date, m.size, m.flags, m.keywords, `+msgSavedNow+`
		FROM unnest($3::bigint[], $4::bigint[]) WITH ORDINALITY AS v(src, dst, n)
		JOIN messages m ON m.mailbox_id = $5 AND m.uid = v.src ORDER BY v.n`,
		dst, int64(modseq), srcUIDs, dstUIDs, src)
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", classify(err))
	}
	if tag.RowsAffected() != int64(n) {
		return nil, fmt.Errorf("store: copy: %d of %d messages copied", tag.RowsAffected(), n)
	}
	return out, nil
}
