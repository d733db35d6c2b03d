package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"pillarbox/store"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-sqlite3"
)

// The full-text index blob_text keeps no text of its own (FTS4
// external content, migration 0016): what SEARCH reads, and what removing
// a blob takes out of the index, is derived again from the stored message
// by the search text function. Each distinct piece of a message's header
// and of its body is indexed once (IndexTerms, indexJoin), so the index
// holds one entry per distinct word rather than one per occurrence; the
// index only proposes candidates, which Search then checks against the
// text itself.

// SetSearchText installs the function that derives the search text from a
// stored message (package mailbox installs its MIME decoder). Until it is
// called, the text is the message as stored: the header block and the
// body, undecoded. Every program that opens the same database must install
// the same function; with another one, a removed blob may leave words in
// the index, which cost SEARCH a wasted check and fail FTS4's integrity
// check (CheckIndex). Open removes the blobs the last run released with
// Options.SearchText, or leaves them to the indexer, which this call
// starts.
func (db *DB) SetSearchText(f store.SearchTextFunc) {
	if f == nil {
		db.textFn.Store(nil)
		return
	}
	db.textFn.Store(&f)
	if db.idx != nil {
		db.kickIndexer()
	}
}

// searchText derives the search text of a stored message.
func (db *DB) searchText(data []byte, withBody bool) store.MessageText {
	if f := db.textFn.Load(); f != nil {
		return (*f)(data, withBody)
	}
	return store.RawSearchText(data, withBody)
}

// A blob's index text is derived from its search text the way its
// text_version (migration 0025) says, so that removing a blob takes out
// of the index exactly the words that were put in:
//
//   - 0: the header and the body. Blobs stored before migration 0025.
//   - 1: the header together with the part headers (MessageText.Terms),
//     and the body. What InsertBlob stores now.
const (
	textVersionBodyOnly   = 0
	textVersionPartHeader = 1
	textVersion           = textVersionPartHeader
)

// Names of the SQL functions of the index text.
const (
	// (text) → IndexTerms(text)
	fnIndexTerms = "pillarbox_index_terms"
	// (header terms, body terms) → indexJoin
	fnIndexJoin = "pillarbox_index_join"
	// (data) → the index text of the message data at text version 0,
	// which the view blob_index_text of migration 0016 gave the
	// full-text index when it removed a blob
	fnIndexText = "pillarbox_index_text"
	// (blob id, data) → the same, which the indexer may have derived
	// already (DB.staged); the view's function in migrations 0023 to 0024
	fnBlobTerms = "pillarbox_blob_terms"
	// (blob id, data, text version) → the index text at that version,
	// or the one staged; the view's function since migration 0025
	fnBlobTermsAt = "pillarbox_blob_terms_at"
	// (envelope JSON, key) → envelopeAddressText, for migration 0017
	fnEnvelopeAddresses = "pillarbox_envelope_addresses"
	// (text) → a JSON array of indexPieces(text), for migration 0016's
	// index_pieces
	fnIndexPieces = "pillarbox_index_pieces"
	// (text) → Fold(text)
	fnFold = "pillarbox_fold"
)

// registerTextFunctions adds the index text functions to a connection,
// deriving the text with text, or taking it from staged (nil: nothing is
// staged) for a blob that the indexer is removing.
func registerTextFunctions(c *sqlite3.SQLiteConn, text store.SearchTextFunc, staged *stagedTerms) error {
	// FTS4 reads a row twice when it removes one (to find it, then to
	// delete its words): the connection keeps the last message's terms
	// rather than decoding it again.
	var last []byte
	var lastVersion int64
	var terms string
	index := func(data []byte, version int64) string {
		if last == nil || version != lastVersion || !bytes.Equal(data, last) {
			terms = indexText(text, data, version)
			if last = bytes.Clone(data); last == nil {
				last = []byte{}
			}
			lastVersion = version
		}
		return terms
	}
	blobTermsAt := func(id int64, data []byte, version int64) string {
		if t, ok := staged.get(id); ok {
			return t
		}
		return index(data, version)
	}
	piecesJSON := func(text string) (string, error) {
		b, err := json.Marshal(indexPieces(text))
		return string(b), err
	}
	for _, f := range []struct {
		name string
		impl any
		pure bool
	}{
		{fnIndexTerms, store.IndexTerms, true},
		{fnIndexJoin, indexJoin, true},
		{fnIndexText, func(data []byte) string { return index(data, textVersionBodyOnly) }, false},
		{fnBlobTerms, func(id int64, data []byte) string { return blobTermsAt(id, data, textVersionBodyOnly) }, false},
		{fnBlobTermsAt, blobTermsAt, false},
		{fnEnvelopeAddresses, envelopeAddressText, true},
		{fnIndexPieces, piecesJSON, true},
		{fnFold, store.Fold, true},
	} {
		if err := c.RegisterFunc(f.name, f.impl, f.pure); err != nil {
			return fmt.Errorf("store: index text: %w", err)
		}
	}
	return nil
}

// indexText is the index text of a stored message at a text version:
// indexJoin of the terms of the search text that text derives from data.
func indexText(text store.SearchTextFunc, data []byte, version int64) string {
	t := text(data, true)
	if version == textVersionBodyOnly {
		t.Parts = ""
	}
	return indexJoin(t.Terms())
}

// headerMark starts each piece of the header in the index, so that one
// column serves both texts and a query can still ask for a word in the
// header or in the body: "Subject" is indexed as "qqhsubject". (A body
// word that starts so only makes the index propose a message that Search
// then rules out.)
const headerMark = "qqh"

// indexJoin is what the full-text index stores for a message whose header
// and body have these index terms (IndexTerms): the header's pieces, each
// after headerMark, then the body's.
func indexJoin(headerTerms, bodyTerms string) string {
	var b strings.Builder
	b.Grow(len(headerTerms) + len(bodyTerms) + 8*len(headerMark))
	// Split at the spaces IndexTerms put there, and only there: a piece
	// may hold other white space (a no-break space is not a separator).
	for w := range strings.SplitSeq(headerTerms, " ") {
		if w != "" {
			b.WriteString(headerMark + w + " ")
		}
	}
	b.WriteString(bodyTerms)
	return b.String()
}

// The index answers for whole pieces and their prefixes only, but a
// search string's first run of letters and digits may end a longer piece
// ("voice" in "invoice"), and a string without separators may lie
// anywhere inside one. index_pieces lists every piece the index holds
// (ASCII lower-cased, with its Fold), so that such a run becomes the few
// pieces that contain it, which the index then finds (pieceLookup).
// Pieces stay listed when their messages go: a piece that no message
// holds any more costs a search a term that matches nothing.

// maxRunPieces bounds the pieces one run of a search string may become;
// a run found in more is not looked up in the index (it would match most
// messages anyway).
const maxRunPieces = 64

// indexPieces returns the distinct pieces of a text (or of its index
// terms), ASCII lower-cased as index_pieces keeps them.
func indexPieces(terms string) []string {
	seen := make(map[string]struct{})
	out := []string{} // never JSON null
	for _, w := range strings.FieldsFunc(terms, func(r rune) bool { return r < utf8.RuneSelf && store.IsIndexSeparator(byte(r)) }) {
		w = asciiLower(w)
		if _, dup := seen[w]; !dup {
			seen[w] = struct{}{}
			out = append(out, w)
		}
	}
	return out
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// maxKnownPieces bounds DB.knownPieces: past it, the set starts again
// (the common words come back into it at once).
const maxKnownPieces = 1 << 18

// addIndexPieces lists the pieces of the pending texts up to blob id last,
// which indexPending is moving into the index. It runs on the writer
// goroutine; the pieces it knows to be listed already (DB.knownPieces,
// which holds only committed ones) cost no statement.
func (tx *Tx) addIndexPieces(last int64) error {
	rows, err := tx.query(`SELECT header, body FROM blob_text_pending WHERE blob_id <= ?`, last)
	if err != nil {
		return fmt.Errorf("store: index pieces: %w", err)
	}
	known := tx.db.knownPieces
	added := make(map[string]struct{})
	for rows.Next() {
		var h, b string
		if err := rows.Scan(&h, &b); err != nil {
			rows.Close()
			return fmt.Errorf("store: index pieces: %w", err)
		}
		for _, text := range [2]string{h, b} {
			for p := range strings.SplitSeq(text, " ") {
				if p == "" {
					continue
				}
				p = asciiLower(p)
				if _, ok := known[p]; ok {
					continue
				}
				added[p] = struct{}{}
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: index pieces: %w", err)
	}
	for p := range added {
		if _, err := tx.exec(`INSERT OR IGNORE INTO index_pieces(piece, folded) VALUES (?, ?)`, p, store.Fold(p)); err != nil {
			return fmt.Errorf("store: index pieces: %w", err)
		}
	}
	tx.OnCommit(func() {
		if len(tx.db.knownPieces)+len(added) > maxKnownPieces {
			clear(tx.db.knownPieces)
		}
		for p := range added {
			tx.db.knownPieces[p] = struct{}{}
		}
	})
	return nil
}

// pieceLookup returns the indexed pieces that contain run (folded), or
// that end with it when suffix is set; ok is false when there are more
// than maxRunPieces or one of them might give the tokenizer no token, and
// then the run must not narrow the search.
type pieceLookup func(run string, suffix bool) (pieces []string, ok bool)

// lookupPieces is a pieceLookup over the snapshot; the first error is
// kept in *errp (and the lookups after it say not ok).
func (s *Snapshot) lookupPieces(ctx context.Context, errp *error) pieceLookup {
	return func(run string, suffix bool) ([]string, bool) {
		if *errp != nil {
			return nil, false
		}
		q := `SELECT piece FROM index_pieces WHERE instr(folded, ?1) > 0 LIMIT ?2`
		if suffix {
			q = `SELECT piece FROM index_pieces WHERE substr(folded, -length(?1)) = ?1 LIMIT ?2`
		}
		rows, err := s.conn.QueryContext(ctx, q, run, maxRunPieces+1)
		if err != nil {
			*errp = err
			return nil, false
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				*errp = err
				return nil, false
			}
			if !hasASCIIAlnum(p) {
				return nil, false
			}
			out = append(out, p)
		}
		if err := rows.Err(); err != nil {
			*errp = err
			return nil, false
		}
		return out, len(out) <= maxRunPieces
	}
}
