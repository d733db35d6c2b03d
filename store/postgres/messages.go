package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// msgSavedNow is the SQL for a message's save date (RFC 8514): the time
// of the statement in Unix seconds, by the database's clock, which every
// node shares.
const msgSavedNow = `floor(extract(epoch FROM statement_timestamp()))::bigint`

// blob_text.terms keeps header and body apart by weight, where SQLite's
// index prefixes each header piece with "qqh": the header's terms carry
// weight A, the body's weight D (the default), so that a search reads a
// header word with a tsquery 'word:A' (or 'word:*A' for a prefix), and a
// word anywhere with 'word' alone. A word in both has positions of both
// weights. The positions are kept (weights live on them); nothing reads
// them otherwise. The 'simple' configuration does not stem, as SQLite's
// unicode61 tokenizer does not; store.IndexTerms has already cut the text
// at ASCII punctuation and dropped duplicates.
//
// The lexeme searchLongMark (which IndexTerms never gives: it holds a
// separator) marks a blob the index may miss words of, which a search
// must take as a candidate for every query: one with a piece PostgreSQL
// leaves out of a tsvector (msgMaxLexeme octets or more), or whose terms
// do not fit in one (a tsvector holds at most 1 MiB), which then holds
// the mark alone.
const (
	msgMaxLexeme = 2047
	// msgTermsRisky is the estimated size of a tsvector (the terms and
	// about ten octets per piece) from which InsertBlob builds it in a
	// savepoint of its own, to fall back to the mark if it is too large.
	msgTermsRisky = 512 << 10
)

// msgTerms is the SQL of the tsvector of header terms $h, body terms $b
// and extra lexemes $x (text[]).
func msgTerms(h, b, x int) string {
	return fmt.Sprintf(`setweight(to_tsvector('simple', $%d::text), 'A') || setweight(to_tsvector('simple', $%d::text), 'D')
		|| array_to_tsvector($%d::text[])`, h, b, x)
}

// textVersion is the blobs.text_version of what InsertBlob stores: its
// blob_text row holds the words of the part headers (store.MessageText)
// with the header's (migration 0025).
const textVersion = 1

// msgInsertBlob stores a blob and what is kept beside it in one
// statement, one round trip to the server per delivery: the row of
// blobs, its address texts (blob_addresses), when given its decoded
// header (blob_headers), and with withText its index terms (blob_text).
func msgInsertBlob(withText bool) string {
	q := `WITH b AS (
	INSERT INTO blobs(size, message_id, sent_date, envelope, structure, data, text_version)
	VALUES ($1, $2, $3, $4, $5, $6, ` + strconv.Itoa(textVersion) + `) RETURNING id
), a AS (
	INSERT INTO blob_addresses(blob_id, from_text, to_text, cc_text, bcc_text)
	SELECT id, $7, $8, $9, $10 FROM b
), h AS (
	INSERT INTO blob_headers(blob_id, text) SELECT id, $11 FROM b WHERE $11::text <> ''
)`
	if withText {
		q += `, t AS (
	INSERT INTO blob_text(blob_id, terms) SELECT id, ` + msgTerms(12, 13, 14) + ` FROM b
)`
	}
	return q + ` SELECT id FROM b`
}

// msgTermsSize estimates the size of the tsvector of terms, and reports
// whether a piece is too long to be indexed.
func msgTermsSize(terms string) (size int, long bool) {
	for w := range strings.SplitSeq(terms, " ") {
		size += len(w) + 10
		long = long || len(w) >= msgMaxLexeme
	}
	return size, long
}

// InsertBlob stores a message body with its metadata and search text.
func (tx *Tx) InsertBlob(b *store.Blob) (int64, error) {
	b.Prepare()
	var sent any
	if !b.SentDate.IsZero() {
		sent = b.SentDate.Unix()
	}
	header, body := b.Terms()
	extra, risky := msgTermsPlan(header, body)
	a := b.AddressTexts()
	args := []any{len(b.Data), b.MessageID, sent, string(b.Envelope), string(b.Structure), b.Data,
		a[0], a[1], a[2], a[3], b.HeaderText}
	if !risky {
		args = append(args, header, body, extra)
	}
	var id int64
	if err := tx.queryRow(msgInsertBlob(!risky), args...).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: insert blob: %w", classify(err))
	}
	if risky {
		if err := msgLargeTerms(tx.ctx, tx.tx, id, header, body, extra); err != nil {
			return 0, fmt.Errorf("store: index blob: %w", classify(err))
		}
	}
	return id, nil
}

// msgTermsPlan says how a blob's index terms are stored: extra holds the
// mark when PostgreSQL would leave a piece of them out, and risky says
// the tsvector may be too large (msgLargeTerms).
func msgTermsPlan(header, body string) (extra []string, risky bool) {
	hs, hl := msgTermsSize(header)
	bs, bl := msgTermsSize(body)
	extra = []string{}
	if hl || bl {
		extra = append(extra, searchLongMark)
	}
	return extra, hs+bs >= msgTermsRisky
}

// msgLargeTerms stores the terms of a blob whose tsvector may be too
// large, in a savepoint: if PostgreSQL refuses it, the blob gets the
// mark alone, and the transaction goes on.
func msgLargeTerms(ctx context.Context, tx pgx.Tx, id int64, header, body string, extra []string) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	_, err = sp.Exec(ctx, `INSERT INTO blob_text(blob_id, terms) SELECT $1, `+msgTerms(2, 3, 4), id, header, body, extra)
	if err == nil {
		return sp.Commit(ctx)
	}
	if retryable(err) {
		return err
	}
	if rerr := sp.Rollback(ctx); rerr != nil {
		return rerr
	}
	_, err = tx.Exec(ctx, `INSERT INTO blob_text(blob_id, terms) VALUES ($1, array_to_tsvector($2::text[]))`, id, []string{searchLongMark})
	return err
}

// IndexBlob fills the search index of blob id in tx as InsertBlob does
// for a delivery: from the index terms (store.MessageText.Terms) of its
// search text, marked when PostgreSQL would leave a piece out, and the
// mark alone when the terms do not fit in a tsvector; the blob's
// text_version says so. For copies made outside the store (pillarbox
// migrate).
func IndexBlob(ctx context.Context, tx pgx.Tx, id int64, headerTerms, bodyTerms string) error {
	extra, risky := msgTermsPlan(headerTerms, bodyTerms)
	var err error
	if risky {
		err = msgLargeTerms(ctx, tx, id, headerTerms, bodyTerms, extra)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO blob_text(blob_id, terms) SELECT $1, `+msgTerms(2, 3, 4), id, headerTerms, bodyTerms, extra)
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE blobs SET text_version = $2 WHERE id = $1`, id, textVersion)
	return err
}

// AppendMessage adds a message to a mailbox with the mailbox's next UID
// and a new MODSEQ, and returns its row. The UPDATE takes the mailbox
// row's lock until the commit: a writer of another node appending to the
// same mailbox waits, then reads the UIDNEXT this one committed.
func (tx *Tx) AppendMessage(m store.NewMessage) (store.Message, error) {
	tx.touch(m.MailboxID)
	var uid uint32
	var modseq uint64
	err := tx.queryRow(`UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
		WHERE id = $1 RETURNING uidnext - 1, highestmodseq`, m.MailboxID).Scan(&uid, &modseq)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Message{}, fmt.Errorf("store: append: mailbox %d: %w", m.MailboxID, store.ErrNotFound)
	}
	if err != nil {
		return store.Message{}, fmt.Errorf("store: append: %w", err)
	}
	kw := strings.Join(m.Keywords, " ")
	var id, saved int64
	err = tx.queryRow(`INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size, flags, keywords, saved)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, `+msgSavedNow+`) RETURNING id, saved`, m.MailboxID, uid, modseq, m.BlobID, m.InternalDate.Unix(), m.Size,
		m.Flags, kw).Scan(&id, &saved)
	if err != nil {
		return store.Message{}, fmt.Errorf("store: append: %w", classify(err))
	}
	if err := tx.msgNoteKeywords(m.MailboxID, strings.Fields(kw)); err != nil {
		return store.Message{}, err
	}
	return m.Stored(id, uid, modseq, saved), nil
}

const msgQuery = `SELECT id, mailbox_id, uid, modseq, blob_id, internal_date, size, flags, keywords FROM messages`

// Messages returns the messages of a mailbox with UID in [first, last]
// in UID order, at most limit of them (limit <= 0: no limit).
func (db *DB) Messages(ctx context.Context, mailboxID int64, first, last uint32, limit int) ([]store.Message, error) {
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	rows, err := db.pool.Query(ctx, msgQuery+` WHERE mailbox_id = $1 AND uid BETWEEN $2 AND $3 ORDER BY uid LIMIT $4`,
		mailboxID, first, last, lim)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	return out, nil
}

// CountMessages returns how many messages a mailbox holds.
func (db *DB) CountMessages(ctx context.Context, mailboxID int64) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE mailbox_id = $1`, mailboxID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// CountBlobs returns how many blobs are stored (for tests and stats).
func (db *DB) CountBlobs(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM blobs`).Scan(&n)
	return n, err
}

// BlobData returns a blob's raw bytes.
func (db *DB) BlobData(ctx context.Context, blobID int64) ([]byte, error) {
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT data FROM blobs WHERE id = $1`, blobID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, err)
	}
	return data, nil
}

// BlobMeta returns a blob's stored envelope and structure JSON.
func (db *DB) BlobMeta(ctx context.Context, blobID int64) (envelope, structure []byte, err error) {
	var env, st string
	err = db.pool.QueryRow(ctx, `SELECT envelope, structure FROM blobs WHERE id = $1`, blobID).Scan(&env, &st)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: blob %d: %w", blobID, store.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: blob %d: %w", blobID, err)
	}
	return []byte(env), []byte(st), nil
}

// BlobRange returns up to n octets of a blob from offset start; nothing
// when n <= 0 or start < 0. The server cuts the range out, so a FETCH of
// a part does not carry the whole message over the network.
func (db *DB) BlobRange(ctx context.Context, blobID, start, n int64) ([]byte, error) {
	if n <= 0 || start < 0 {
		return nil, nil
	}
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT substring(data from $2 for $3) FROM blobs WHERE id = $1`,
		blobID, start+1, n).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob %d: %w", blobID, err)
	}
	return data, nil
}

// msgNoteKeywords records keywords as the mailbox's (mailbox_keywords),
// once each whatever their case, the first spelling winning: what FLAGS
// lists at SELECT.
func (tx *Tx) msgNoteKeywords(mailboxID int64, keywords []string) error {
	if len(keywords) == 0 {
		return nil
	}
	if _, err := tx.exec(`INSERT INTO mailbox_keywords(mailbox_id, keyword)
		SELECT $1, k FROM unnest($2::text[]) WITH ORDINALITY AS w(k, n) ORDER BY n
		ON CONFLICT (mailbox_id, lower(keyword)) DO NOTHING`, mailboxID, keywords); err != nil {
		return fmt.Errorf("store: keywords: %w", err)
	}
	return nil
}
