package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"pillarbox/store"
	"strings"
	"time"
)

// savedNow is the SQL for a message's save date (RFC 8514): the time of
// the write, in Unix seconds.
const savedNow = `CAST(strftime('%s', 'now') AS INTEGER)`

// InsertBlob stores a message body with its metadata and search text.
func (tx *Tx) InsertBlob(b *store.Blob) (int64, error) {
	b.Prepare()
	var sent any
	if !b.SentDate.IsZero() {
		sent = b.SentDate.Unix()
	}
	res, err := tx.exec(`INSERT INTO blobs(size, message_id, sent_date, envelope, structure, data, text_version)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, len(b.Data), b.MessageID, sent, string(b.Envelope), string(b.Structure), b.Data, textVersion)
	if err != nil {
		return 0, fmt.Errorf("store: insert blob: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: insert blob: %w", err)
	}
	headerTerms, bodyTerms := b.Terms()
	if _, err := tx.exec(`INSERT INTO blob_text_pending(blob_id, header, body) VALUES (?, ?, ?)`, id,
		headerTerms, bodyTerms); err != nil {
		return 0, fmt.Errorf("store: index blob: %w", err)
	}
	tx.housework++
	if err := tx.insertAddresses(id, b); err != nil {
		return 0, fmt.Errorf("store: blob addresses: %w", err)
	}
	if err := tx.insertHeader(id, b); err != nil {
		return 0, fmt.Errorf("store: blob header: %w", err)
	}
	return id, nil
}

// AppendMessage adds a message to a mailbox with the mailbox's next UID
// and a new MODSEQ, and returns its row.
func (tx *Tx) AppendMessage(m store.NewMessage) (store.Message, error) {
	var uid uint32
	var modseq uint64
	err := tx.queryRow(`UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
		WHERE id = ? RETURNING uidnext - 1, highestmodseq`, m.MailboxID).Scan(&uid, &modseq)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Message{}, fmt.Errorf("store: append: mailbox %d: %w", m.MailboxID, store.ErrNotFound)
	}
	if err != nil {
		return store.Message{}, fmt.Errorf("store: append: %w", err)
	}
	var id, saved int64
	err = tx.queryRow(`INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size, flags, keywords, saved)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, `+savedNow+`) RETURNING id, saved`, m.MailboxID, uid, modseq, m.BlobID, m.InternalDate.Unix(), m.Size,
		m.Flags, strings.Join(m.Keywords, " ")).Scan(&id, &saved)
	if err != nil {
		return store.Message{}, fmt.Errorf("store: append: %w", err)
	}
	if err := tx.noteKeywords(m.MailboxID, strings.Join(m.Keywords, " ")); err != nil {
		return store.Message{}, err
	}
	return m.Stored(id, uid, modseq, saved), nil
}

const messageQuery = `SELECT id, mailbox_id, uid, modseq, blob_id, internal_date, size, flags, keywords FROM messages`

// Messages returns the messages of a mailbox with UID in [first, last]
// in UID order, at most limit of them (limit <= 0: no limit).
func (db *DB) Messages(ctx context.Context, mailboxID int64, first, last uint32, limit int) ([]store.Message, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.rdb.QueryContext(ctx, messageQuery+` WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid LIMIT ?`,
		mailboxID, first, last, limit)
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var date int64
		var kw string
		if err := rows.Scan(&m.ID, &m.MailboxID, &m.UID, &m.ModSeq, &m.BlobID, &date, &m.Size, &m.Flags, &kw); err != nil {
			return nil, fmt.Errorf("store: messages: %w", err)
		}
		m.InternalDate = time.Unix(date, 0)
		if kw != "" {
			m.Keywords = strings.Fields(kw)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CountMessages returns how many messages a mailbox holds.
func (db *DB) CountMessages(ctx context.Context, mailboxID int64) (int, error) {
	var n int
	err := db.rdb.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE mailbox_id = ?`, mailboxID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// BlobData returns a blob's raw bytes.
func (db *DB) BlobData(ctx context.Context, blobID int64) ([]byte, error) {
	var data []byte
	err := db.rdb.QueryRowContext(ctx, `SELECT data FROM blobs WHERE id = ?`, blobID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, err)
	}
	return data, nil
}

// BlobMeta returns a blob's stored envelope and structure JSON.
func (db *DB) BlobMeta(ctx context.Context, blobID int64) (envelope, structure []byte, err error) {
	err = db.rdb.QueryRowContext(ctx, `SELECT envelope, structure FROM blobs WHERE id = ?`, blobID).Scan(&envelope, &structure)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: blob %d: %w", blobID, store.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: blob %d: %w", blobID, err)
	}
	return envelope, structure, nil
}

// CountBlobs returns how many blobs are stored (for tests and stats),
// leaving out those released and not yet removed (index.go).
func (db *DB) CountBlobs(ctx context.Context) (int, error) {
	var n int
	err := db.rdb.QueryRowContext(ctx, `SELECT count(*) FROM blobs
		WHERE NOT EXISTS (SELECT 1 FROM blobs_released WHERE blob_id = blobs.id)`).Scan(&n)
	return n, err
}
