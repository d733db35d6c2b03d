package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// The reads of one IMAP command, in the snapshot's REPEATABLE READ
// transaction: every query sees the database as of the snapshot's first
// one. They follow the SQLite store's (store/sqlite/fetch.go), minus its
// packing of rows into one string: a row costs pgx little, and none of
// it is a call into C.

// Mailbox returns a mailbox with its totals.
func (s *Snapshot) Mailbox(ctx context.Context, id int64) (store.Mailbox, store.MailboxCounts, error) {
	var m store.Mailbox
	var c store.MailboxCounts
	err := s.tx.QueryRow(ctx, `SELECT b.id, b.account_id, b.name, b.uidvalidity, b.uidnext, b.highestmodseq,
		b.special_use, b.recent_uid,
		EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = b.account_id AND s.name = b.name),
		c.messages, c.unseen, c.deleted, c.size, c.deleted_size
		FROM mailboxes b JOIN mailbox_counts c ON c.mailbox_id = b.id WHERE b.id = $1`, id).Scan(
		&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse, &m.RecentUID, &m.Subscribed,
		&c.Messages, &c.Unseen, &c.Deleted, &c.Size, &c.DeletedSize)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, c, fmt.Errorf("store: mailbox %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return m, c, fmt.Errorf("store: mailbox %d: %w", id, err)
	}
	return m, c, nil
}

// Keywords returns the mailbox's keywords in the order of their names,
// ignoring ASCII case as SQLite's NOCASE column orders them (keywords are
// atoms: lower() is that folding, and COLLATE "C" keeps the database's
// collation out of it); mailbox_keywords_key holds that order.
func (s *Snapshot) Keywords(ctx context.Context, mailboxID int64) ([]string, error) {
	rows, err := s.tx.Query(ctx, `SELECT keyword FROM mailbox_keywords WHERE mailbox_id = $1 ORDER BY lower(keyword) COLLATE "C"`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("store: keywords: %w", err)
	}
	out, err := pgx.AppendRows([]string(nil), rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: keywords: %w", err)
	}
	return out, nil
}

// Sequence numbers are positions in UID order. PostgreSQL counts them by
// walking the (mailbox_id, uid) index, as SQLite does, so the walks
// below start from the nearer end of the mailbox: the newest messages,
// which clients ask for most, cost little whatever its size.

// UIDAt returns the UID of the message with sequence number seq (its
// position in UID order, from 1) in a mailbox of total messages; 0 if
// there is none.
func (s *Snapshot) UIDAt(ctx context.Context, mailboxID int64, seq, total uint32) (uint32, error) {
	if seq == 0 || seq > total {
		return 0, nil
	}
	query := `SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid LIMIT 1 OFFSET $2`
	offset := seq - 1
	if seq > total/2 {
		query = `SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid DESC LIMIT 1 OFFSET $2`
		offset = total - seq
	}
	var uid uint32
	err := s.tx.QueryRow(ctx, query, mailboxID, int64(offset)).Scan(&uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: uid at %d: %w", seq, err)
	}
	return uid, nil
}

// CountBelow returns how many messages of a mailbox of total messages
// have a UID below uid, counting from the end nearer to uid.
func (s *Snapshot) CountBelow(ctx context.Context, mailboxID int64, uid, total uint32) (uint32, error) {
	if uid <= 1 || total == 0 {
		return 0, nil
	}
	var lo, hi *int64
	err := s.tx.QueryRow(ctx, `SELECT (SELECT min(uid) FROM messages WHERE mailbox_id = $1),
		(SELECT max(uid) FROM messages WHERE mailbox_id = $1)`, mailboxID).Scan(&lo, &hi)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	switch {
	case lo == nil || int64(uid) <= *lo:
		return 0, nil
	case int64(uid) > *hi:
		return total, nil
	}
	var n uint32
	if int64(uid)-*lo <= *hi-int64(uid) {
		err = s.tx.QueryRow(ctx, `SELECT count(*) FROM messages WHERE mailbox_id = $1 AND uid < $2`, mailboxID, int64(uid)).Scan(&n)
	} else {
		err = s.tx.QueryRow(ctx, `SELECT count(*) FROM messages WHERE mailbox_id = $1 AND uid >= $2`, mailboxID, int64(uid)).Scan(&n)
		n = total - n
	}
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// CountUIDs returns how many messages of the mailbox have a UID in
// [lo, hi].
func (s *Snapshot) CountUIDs(ctx context.Context, mailboxID int64, lo, hi uint32) (uint32, error) {
	if lo > hi {
		return 0, nil
	}
	var n uint32
	err := s.tx.QueryRow(ctx, `SELECT count(*) FROM messages WHERE mailbox_id = $1 AND uid BETWEEN $2 AND $3`,
		mailboxID, int64(lo), int64(hi)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// MaxUID returns the highest UID in the mailbox, 0 if it is empty.
func (s *Snapshot) MaxUID(ctx context.Context, mailboxID int64) (uint32, error) {
	var uid uint32
	err := s.tx.QueryRow(ctx, `SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = $1`, mailboxID).Scan(&uid)
	if err != nil {
		return 0, fmt.Errorf("store: max uid: %w", err)
	}
	return uid, nil
}

// UIDs returns every UID of the mailbox in order, as one array: one
// value to decode rather than a row per message.
func (s *Snapshot) UIDs(ctx context.Context, mailboxID int64) ([]uint32, error) {
	var uids []int64
	err := s.tx.QueryRow(ctx, `SELECT coalesce(array_agg(uid ORDER BY uid), '{}') FROM messages WHERE mailbox_id = $1`,
		mailboxID).Scan(&uids)
	if err != nil {
		return nil, fmt.Errorf("store: uids: %w", err)
	}
	out := make([]uint32, len(uids))
	for i, u := range uids {
		out[i] = uint32(u)
	}
	return out, nil
}

// FirstUnseen returns the UID of the first message without \Seen, 0 if
// there is none. The condition is messages_unseen's, which the planner
// needs word for word to use that index.
func (s *Snapshot) FirstUnseen(ctx context.Context, mailboxID int64) (uint32, error) {
	var uid uint32
	err := s.tx.QueryRow(ctx, `SELECT uid FROM messages WHERE mailbox_id = $1 AND flags & 1 = 0 ORDER BY uid LIMIT 1`,
		mailboxID).Scan(&uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: first unseen: %w", err)
	}
	return uid, nil
}

// UIDsOfBlob returns, in order, the UIDs of a mailbox's messages whose
// stored message is blobID: SEARCH EMAILID (RFC 8474), whose ids are the
// blobs'.
func (s *Snapshot) UIDsOfBlob(ctx context.Context, mailboxID, blobID int64) ([]uint32, error) {
	rows, err := s.tx.Query(ctx, `SELECT uid FROM messages WHERE mailbox_id = $1 AND blob_id = $2 ORDER BY uid`, mailboxID, blobID)
	if err != nil {
		return nil, fmt.Errorf("store: uids of blob: %w", err)
	}
	out, err := pgx.AppendRows([]uint32(nil), rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, fmt.Errorf("store: uids of blob: %w", err)
	}
	return out, nil
}

// EachMessage calls fn with each of up to limit messages of the mailbox
// with UID in [lo, hi] (a negative limit: all of them, as SQLite's LIMIT
// -1), in UID order, with the columns cols says. The Message is only
// valid during the call (fn copies what it keeps). The stored envelopes
// and structures are read apart (BlobMetas), as few as a cache lacks.
// MODSEQ comes with the flags: CONDSTORE clients get both, and
// messages_flags holds it.
func (s *Snapshot) EachMessage(ctx context.Context, mailboxID int64, lo, hi uint32, limit int, cols store.MessageColumns, fn func(*store.Message) error) error {
	columns := "uid, flags, modseq, keywords"
	if cols == store.ColumnsRow {
		columns += ", id, blob_id, internal_date, size, coalesce(saved, internal_date)"
	}
	var lim any // NULL: no limit
	if limit >= 0 {
		lim = limit
	}
	rows, err := s.tx.Query(ctx, `SELECT `+columns+` FROM messages
		WHERE mailbox_id = $1 AND uid BETWEEN $2 AND $3 ORDER BY uid LIMIT $4`, mailboxID, int64(lo), int64(hi), lim)
	if err != nil {
		return fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	var m store.Message // one for all rows: fn copies what it keeps
	for rows.Next() {
		var keywords string
		var date, saved int64
		m = store.Message{MailboxID: mailboxID}
		dst := []any{&m.UID, &m.Flags, &m.ModSeq, &keywords}
		if cols == store.ColumnsRow {
			dst = append(dst, &m.ID, &m.BlobID, &date, &m.Size, &saved)
		}
		if err := rows.Scan(dst...); err != nil {
			return fmt.Errorf("store: messages: %w", err)
		}
		if cols == store.ColumnsRow {
			m.InternalDate, m.SaveDate = time.Unix(date, 0), time.Unix(saved, 0)
		}
		if keywords != "" {
			m.Keywords = strings.Fields(keywords)
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: messages: %w", err)
	}
	return nil
}

// BlobMetas calls fn with the stored envelope and structure of each of
// the blobs ids (in no order); a blob that is gone is left out.
func (s *Snapshot) BlobMetas(ctx context.Context, ids []int64, fn func(id int64, envelope, structure []byte) error) error {
	rows, err := s.tx.Query(ctx, `SELECT id, envelope, structure FROM blobs WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("store: blob meta: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var env, st []byte
		if err := rows.Scan(&id, &env, &st); err != nil {
			return fmt.Errorf("store: blob meta: %w", err)
		}
		if err := fn(id, env, st); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: blob meta: %w", err)
	}
	return nil
}

// BlobRange returns n octets of a blob from offset start (fewer at its
// end); ErrNotFound if the blob is gone. PostgreSQL cuts the range, so
// the rest of a large blob never leaves the server (substr of a bytea
// stored out of line reads only the chunks it needs when the value is
// not compressed).
func (s *Snapshot) BlobRange(ctx context.Context, blobID, start, n int64) ([]byte, error) {
	if n <= 0 || start < 0 {
		return nil, nil
	}
	var data []byte
	err := s.tx.QueryRow(ctx, `SELECT substr(data, $1, $2) FROM blobs WHERE id = $3`, start+1, n, blobID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, err)
	}
	return data, nil
}
