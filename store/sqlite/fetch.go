package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"pillarbox/store"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Snapshot is a read transaction: every query on it sees the database as
// it was at the snapshot's first query (SQLite WAL), whatever commits
// meanwhile. Close it soon: it holds a connection of the snapshot pool.
//
// It runs BEGIN and ROLLBACK on its connection itself rather than through
// database/sql's Tx, which watches its context with a goroutine for the
// transaction and another for each query's rows. Its queries run under a
// context that cannot end, so that go-sqlite3 steps each row in one call;
// only searches, which may take long, run under the caller's.
type Snapshot struct {
	db   *DB
	conn *sql.Conn
}

// Snapshot begins a read transaction. The snapshot itself is taken by its
// first query.
func (db *DB) snapshot(ctx context.Context) (*Snapshot, error) {
	conn, err := db.sdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN"); err != nil {
		discard(conn)
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	return &Snapshot{db: db, conn: conn}, nil
}

// Close ends the read transaction.
func (s *Snapshot) Close() error {
	if _, err := s.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		// The connection may still be in the transaction: it must not go
		// back to the pool.
		discard(s.conn)
		return fmt.Errorf("store: snapshot: %w", err)
	}
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

// discard closes conn and the driver connection under it.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

func (s *Snapshot) queryRow(query string, args ...any) *sql.Row {
	return s.conn.QueryRowContext(context.Background(), query, args...)
}

func (s *Snapshot) query(query string, args ...any) (*sql.Rows, error) {
	return s.conn.QueryContext(context.Background(), query, args...)
}

// Mailbox returns a mailbox with its totals.
func (s *Snapshot) Mailbox(ctx context.Context, id int64) (store.Mailbox, store.MailboxCounts, error) {
	var m store.Mailbox
	var c store.MailboxCounts
	err := s.queryRow(`SELECT b.id, b.account_id, b.name, b.uidvalidity, b.uidnext, b.highestmodseq,
		b.special_use, b.recent_uid,
		EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = b.account_id AND s.name = b.name),
		c.messages, c.unseen, c.deleted, c.size, c.deleted_size
		FROM mailboxes b JOIN mailbox_counts c ON c.mailbox_id = b.id WHERE b.id = ?`, id).Scan(
		&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse, &m.RecentUID, &m.Subscribed,
		&c.Messages, &c.Unseen, &c.Deleted, &c.Size, &c.DeletedSize)
	if errors.Is(err, sql.ErrNoRows) {
		return m, c, fmt.Errorf("store: mailbox %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return m, c, fmt.Errorf("store: mailbox %d: %w", id, err)
	}
	return m, c, nil
}

// rowQuerier runs a query that returns one row: a Snapshot's or a Tx's.
type rowQuerier func(query string, args ...any) *sql.Row

// Sequence numbers are positions in UID order, which SQLite can only
// count by walking the index. The walks below start from the nearer end
// of the mailbox, so that the newest messages, which clients ask for most,
// cost little whatever the size of the mailbox.

// uidAt returns the UID at position seq (from 1) of a mailbox of total
// messages, 0 if there is none.
func uidAt(q rowQuerier, mailboxID int64, seq, total uint32) (uint32, error) {
	if seq == 0 || seq > total {
		return 0, nil
	}
	query := `SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid LIMIT 1 OFFSET ?`
	offset := seq - 1
	if seq > total/2 {
		query = `SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid DESC LIMIT 1 OFFSET ?`
		offset = total - seq
	}
	var uid uint32
	err := q(query, mailboxID, offset).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: uid at %d: %w", seq, err)
	}
	return uid, nil
}

// countBelow returns how many messages of a mailbox of total messages
// have a UID below uid, counting from the end nearer to uid.
func countBelow(q rowQuerier, mailboxID int64, uid, total uint32) (uint32, error) {
	if uid <= 1 || total == 0 {
		return 0, nil
	}
	var lo, hi uint32
	err := q(`SELECT (SELECT min(uid) FROM messages WHERE mailbox_id = ?1), (SELECT max(uid) FROM messages WHERE mailbox_id = ?1)`,
		mailboxID).Scan(&lo, &hi)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	switch {
	case uid <= lo:
		return 0, nil
	case uid > hi:
		return total, nil
	}
	var n uint32
	if uid-lo <= hi-uid {
		err = q(`SELECT count(*) FROM messages WHERE mailbox_id = ? AND uid < ?`, mailboxID, uid).Scan(&n)
	} else {
		err = q(`SELECT count(*) FROM messages WHERE mailbox_id = ? AND uid >= ?`, mailboxID, uid).Scan(&n)
		n = total - n
	}
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// UIDAt returns the UID of the message with sequence number seq (its
// position in UID order, from 1) in a mailbox of total messages; 0 if
// there is none.
func (s *Snapshot) UIDAt(ctx context.Context, mailboxID int64, seq, total uint32) (uint32, error) {
	return uidAt(s.queryRow, mailboxID, seq, total)
}

// CountBelow returns how many messages of a mailbox of total messages
// have a UID below uid.
func (s *Snapshot) CountBelow(ctx context.Context, mailboxID int64, uid, total uint32) (uint32, error) {
	return countBelow(s.queryRow, mailboxID, uid, total)
}

// CountUIDs returns how many messages of the mailbox have a UID in
// [lo, hi].
func (s *Snapshot) CountUIDs(ctx context.Context, mailboxID int64, lo, hi uint32) (uint32, error) {
	if lo > hi {
		return 0, nil
	}
	var n uint32
	err := s.queryRow(`SELECT count(*) FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?`,
		mailboxID, lo, hi).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// MaxUID returns the highest UID in the mailbox, 0 if it is empty.
func (s *Snapshot) MaxUID(ctx context.Context, mailboxID int64) (uint32, error) {
	var uid uint32
	err := s.queryRow(`SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = ?`, mailboxID).Scan(&uid)
	if err != nil {
		return 0, fmt.Errorf("store: max uid: %w", err)
	}
	return uid, nil
}

// UIDs returns every UID of the mailbox in order. SQLite joins them into
// one string: a row of database/sql each would cost several calls into C.
func (s *Snapshot) UIDs(ctx context.Context, mailboxID int64) ([]uint32, error) {
	var n int
	var joined string
	err := s.queryRow(`SELECT count(*), coalesce(group_concat(uid, ' '), '')
		FROM (SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid)`, mailboxID).Scan(&n, &joined)
	if err != nil {
		return nil, fmt.Errorf("store: uids: %w", err)
	}
	out := make([]uint32, 0, n)
	for f := range strings.FieldsSeq(joined) {
		uid, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("store: uids: bad uid %q", f)
		}
		out = append(out, uint32(uid))
	}
	if len(out) != n || !slices.IsSorted(out) {
		// The co-routine yields in index order; sort should it not.
		slices.Sort(out)
	}
	return out, nil
}

// FirstUnseen returns the UID of the first message without \Seen, 0 if
// there is none.
func (s *Snapshot) FirstUnseen(ctx context.Context, mailboxID int64) (uint32, error) {
	var uid uint32
	err := s.queryRow(`SELECT uid FROM messages WHERE mailbox_id = ? AND flags & 1 = 0 ORDER BY uid LIMIT 1`,
		mailboxID).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: first unseen: %w", err)
	}
	return uid, nil
}

// EachMessage calls fn with each of up to limit messages of the mailbox
// with UID in [lo, hi], in UID order, with the columns cols says. The
// Message is only valid during the call (fn copies what it keeps). The
// stored envelopes and structures are read apart (BlobMetas), as few
// as a cache lacks.
//
// It reads the rows as one string that SQLite builds: a row of
// database/sql costs several calls into C, which would otherwise be most
// of the time of FETCH 1:* (FLAGS). Each line is "uid flags modseq [id
// blob date size saved] keywords..."; keywords hold no white space.
// MODSEQ comes with the flags: CONDSTORE clients get both.
func (s *Snapshot) EachMessage(ctx context.Context, mailboxID int64, lo, hi uint32, limit int, cols store.MessageColumns, fn func(*store.Message) error) error {
	line, columns := `uid || ' ' || flags || ' ' || modseq`, "uid, flags, modseq, keywords"
	want := 3
	if cols == store.ColumnsRow {
		line += ` || ' ' || id || ' ' || blob_id || ' ' || internal_date || ' ' || size || ' ' || coalesce(saved, internal_date)`
		columns += ", id, blob_id, internal_date, size, saved"
		want = 8
	}
	line += ` || CASE WHEN keywords = '' THEN '' ELSE ' ' || keywords END`
	var packed string
	// The rows come in UID order from the co-routine; an ORDER BY inside
	// group_concat would sort them again. The order is checked below.
	err := s.queryRow(`SELECT coalesce(group_concat(`+line+`, char(10)), '')
		FROM (SELECT `+columns+` FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid LIMIT ?)`,
		mailboxID, lo, hi, limit).Scan(&packed)
	if err != nil {
		return fmt.Errorf("store: messages: %w", err)
	}
	lines := strings.Lines(packed)
	if !packedSorted(packed) {
		// Not in UID order after all: the callers count on it.
		all := slices.Collect(lines)
		slices.SortFunc(all, func(a, b string) int {
			x, _, _ := leadingInt(a)
			y, _, _ := leadingInt(b)
			return cmp.Compare(x, y)
		})
		lines = slices.Values(all)
	}
	var m store.Message // one for all rows: fn copies what it keeps
	for l := range lines {
		l = strings.TrimSuffix(l, "\n")
		var nums [8]int64
		rest, ok := l, true
		for i := range want {
			nums[i], rest, ok = leadingInt(rest)
			if !ok {
				return fmt.Errorf("store: messages: bad packed row %q", l)
			}
		}
		m = store.Message{MailboxID: mailboxID, UID: uint32(nums[0]), Flags: int(nums[1]), ModSeq: uint64(nums[2])}
		if cols == store.ColumnsRow {
			m.ID, m.BlobID = nums[3], nums[4]
			m.InternalDate, m.Size, m.SaveDate = time.Unix(nums[5], 0), nums[6], time.Unix(nums[7], 0)
		}
		if rest != "" {
			m.Keywords = strings.Fields(rest)
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
	return nil
}

// BlobMetas calls fn with the stored envelope and structure of each of
// the blobs ids (in no order); a blob that is gone is left out.
func (s *Snapshot) BlobMetas(ctx context.Context, ids []int64, fn func(id int64, envelope, structure []byte) error) error {
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("store: blob meta: %w", err)
	}
	rows, err := s.query(`SELECT id, envelope, structure FROM blobs WHERE id IN (SELECT value FROM json_each(?))`, string(list))
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

// packedSorted reports whether the lines of packed are in UID order.
func packedSorted(packed string) bool {
	var last int64 = -1
	for l := range strings.Lines(packed) {
		uid, _, _ := leadingInt(l)
		if uid <= last {
			return false
		}
		last = uid
	}
	return true
}

// leadingInt parses the decimal integer (maybe negative) at the start
// of s, and returns it with what follows its separating space.
func leadingInt(s string) (int64, string, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var n int64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	if i == 0 || i > 18 || i < len(s) && s[i] != ' ' {
		return 0, s, false
	}
	if neg {
		n = -n
	}
	if i < len(s) {
		i++
	}
	return n, s[i:], true
}

// BlobRange returns n octets of a blob from offset start (fewer at its
// end); ErrNotFound if the blob is gone. SQLite cuts the range, so the
// rest of a large blob never reaches Go. It reads through the snapshot
// pool, as IMAP FETCH is what asks: the lookup pool stays free for SMTP.
func (db *DB) BlobRange(ctx context.Context, blobID, start, n int64) ([]byte, error) {
	return blobRange(func(q string, args ...any) *sql.Row { return db.sdb.QueryRowContext(ctx, q, args...) }, blobID, start, n)
}

// BlobRange is DB.BlobRange in the snapshot: many messages read in one
// transaction cost one lock of the database, not one each.
func (s *Snapshot) BlobRange(ctx context.Context, blobID, start, n int64) ([]byte, error) {
	return blobRange(s.queryRow, blobID, start, n)
}

func blobRange(q rowQuerier, blobID, start, n int64) ([]byte, error) {
	if n <= 0 || start < 0 {
		return nil, nil
	}
	var data []byte
	err := q(`SELECT substr(data, ?, ?) FROM blobs WHERE id = ?`, start+1, n, blobID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, err)
	}
	return data, nil
}

// UIDsOfBlob returns, in order, the UIDs of a mailbox's messages whose
// stored message is blobID: SEARCH EMAILID (RFC 8474), whose ids are the
// blobs'.
func (s *Snapshot) UIDsOfBlob(ctx context.Context, mailboxID, blobID int64) ([]uint32, error) {
	rows, err := s.query(`SELECT uid FROM messages WHERE mailbox_id = ? AND blob_id = ? ORDER BY uid`, mailboxID, blobID)
	if err != nil {
		return nil, fmt.Errorf("store: uids of blob: %w", err)
	}
	return column[uint32](rows, "uids of blob")
}

// Snapshot is store.Store's Snapshot.
func (db *DB) Snapshot(ctx context.Context) (store.Snapshot, error) {
	s, err := db.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}
