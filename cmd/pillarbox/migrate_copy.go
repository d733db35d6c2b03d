package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"pillarbox/mailbox"
	"pillarbox/store/postgres"
)

// The copy is generic over the two schemas, which carry the same tables
// and columns (a test of store/postgres holds them to that), except:
//   - the full-text index, which each store keeps its own way: SQLite's
//     FTS4 tables are left behind and PostgreSQL's blob_text is computed
//     from each message, as delivery computes it;
//   - what PostgreSQL's triggers derive as rows arrive: mailbox_counts
//     and accounts.usage. They are not copied but compared afterwards,
//     which checks the copy of every message row once more.

// migrateSkip are the PostgreSQL tables the copy does not fill from
// SQLite's rows.
var migrateSkip = map[string]bool{"schema_version": true, "mailbox_counts": true, "blob_text": true}

// migrateDerived are columns the triggers keep.
var migrateDerived = map[string]bool{"accounts.usage": true}

type migrateReport struct {
	tables                   []migrateTable
	blobs, folders, accounts int
}

type migrateTable struct {
	name string
	rows int64
}

// copyToPostgres copies src (an SQLite database) into the PostgreSQL
// database of pool in one transaction, verifies the copy, and commits.
func copyToPostgres(ctx context.Context, src *sql.DB, pool *pgxpool.Pool) (*migrateReport, error) {
	// One read transaction: the copy is of one moment of the SQLite store.
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer stx.Rollback()
	ptx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer ptx.Rollback(context.Background())
	var n int64
	if err := ptx.QueryRow(ctx, `SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM blobs)`).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, errNotEmpty
	}
	tables, err := migrateTables(ctx, ptx)
	if err != nil {
		return nil, err
	}
	rep := &migrateReport{}
	for _, t := range tables {
		rows, err := copyTable(ctx, stx, ptx, t)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t.name, err)
		}
		rep.tables = append(rep.tables, migrateTable{t.name, rows})
	}
	if err := resetIdentities(ctx, stx, ptx, tables); err != nil {
		return nil, err
	}
	if rep.blobs, err = indexBlobs(ctx, ptx); err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	if err := verifyCopy(ctx, stx, ptx, rep); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return rep, ptx.Commit(ctx)
}

// pgTable is a PostgreSQL table to fill and the columns to copy.
type pgTable struct {
	name     string
	cols     []string
	boolCols map[string]bool // boolean in PostgreSQL, 0/1 in SQLite
	identity string          // the identity column, if any
}

// migrateTables lists the tables to fill, parents before children.
func migrateTables(ctx context.Context, tx pgx.Tx) ([]pgTable, error) {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, data_type, is_identity
		FROM information_schema.columns WHERE table_schema = current_schema()
		ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, err
	}
	byName := map[string]*pgTable{}
	var names []string
	for rows.Next() {
		var table, col, typ, ident string
		if err := rows.Scan(&table, &col, &typ, &ident); err != nil {
			return nil, err
		}
		if migrateSkip[table] || migrateDerived[table+"."+col] {
			continue
		}
		t := byName[table]
		if t == nil {
			t = &pgTable{name: table, boolCols: map[string]bool{}}
			byName[table] = t
			names = append(names, table)
		}
		t.cols = append(t.cols, col)
		if typ == "boolean" {
			t.boolCols[col] = true
		}
		if ident == "YES" {
			t.identity = col
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	rows, err = tx.Query(ctx, `SELECT c.conrelid::regclass::text, c.confrelid::regclass::text
		FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			return nil, err
		}
		if child != parent {
			deps[child] = append(deps[child], parent)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Depth-first: each table after the tables it refers to.
	var order []pgTable
	done := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		for _, p := range deps[n] {
			visit(p)
		}
		if t := byName[n]; t != nil {
			order = append(order, *t)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		visit(n)
	}
	return order, nil
}

// copyTable streams one table's rows from SQLite into PostgreSQL.
func copyTable(ctx context.Context, stx *sql.Tx, ptx pgx.Tx, t pgTable) (int64, error) {
	q := "SELECT " + quoteCols(t.cols) + " FROM " + t.name
	if t.identity != "" {
		q += " ORDER BY " + t.identity
	}
	rows, err := stx.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	src := &sqliteRows{rows: rows, t: t, vals: make([]any, len(t.cols))}
	n, err := ptx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, src)
	if err != nil {
		return 0, err
	}
	if src.err != nil {
		return 0, src.err
	}
	return n, nil
}

func quoteCols(cols []string) string {
	var b bytes.Buffer
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + c + `"`)
	}
	return b.String()
}

// sqliteRows is a pgx.CopyFromSource over an SQLite query, converting
// 0/1 to booleans and text read as bytes to strings.
type sqliteRows struct {
	rows *sql.Rows
	t    pgTable
	vals []any
	err  error
}

func (r *sqliteRows) Next() bool {
	if !r.rows.Next() {
		r.err = r.rows.Err()
		return false
	}
	ptrs := make([]any, len(r.vals))
	for i := range r.vals {
		ptrs[i] = &r.vals[i]
	}
	if r.err = r.rows.Scan(ptrs...); r.err != nil {
		return false
	}
	for i, c := range r.t.cols {
		if r.t.boolCols[c] {
			if v, ok := r.vals[i].(int64); ok {
				r.vals[i] = v != 0
			}
		}
	}
	return true
}

func (r *sqliteRows) Values() ([]any, error) { return r.vals, r.err }
func (r *sqliteRows) Err() error             { return r.err }

// resetIdentities moves each identity past every id SQLite ever gave,
// deleted rows' included (sqlite_sequence), so no id is used twice.
func resetIdentities(ctx context.Context, stx *sql.Tx, ptx pgx.Tx, tables []pgTable) error {
	for _, t := range tables {
		if t.identity == "" {
			continue
		}
		var seq sql.NullInt64
		err := stx.QueryRowContext(ctx, `SELECT max(v) FROM (SELECT seq AS v FROM sqlite_sequence WHERE name = ?
			UNION ALL SELECT max(`+t.identity+`) FROM `+t.name+`)`, t.name).Scan(&seq)
		if err != nil {
			return fmt.Errorf("table %s: last id: %w", t.name, err)
		}
		if !seq.Valid || seq.Int64 < 1 {
			continue
		}
		if _, err := ptx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), $3)`, t.name, t.identity, seq.Int64); err != nil {
			return fmt.Errorf("table %s: identity: %w", t.name, err)
		}
	}
	return nil
}

// indexBlobs computes each blob's search terms from its message, as
// delivery does, and fills blob_text.
func indexBlobs(ctx context.Context, ptx pgx.Tx) (int, error) {
	type terms struct {
		id           int64
		header, body string
	}
	var list []terms
	rows, err := ptx.Query(ctx, `SELECT id, data FROM blobs ORDER BY id`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return 0, err
		}
		h, b := mailbox.SearchText(data, mailbox.Limits{}, true).Terms()
		list = append(list, terms{id, h, b})
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, t := range list {
		if err := postgres.IndexBlob(ctx, ptx, t.id, t.header, t.body); err != nil {
			return 0, fmt.Errorf("blob %d: %w", t.id, err)
		}
	}
	return len(list), nil
}

// verifyCopy compares what PostgreSQL now holds with SQLite: the row
// count of every table, every message's SHA-256, and the totals the
// triggers derived.
func verifyCopy(ctx context.Context, stx *sql.Tx, ptx pgx.Tx, rep *migrateReport) error {
	for _, t := range rep.tables {
		var s, p int64
		if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&s); err != nil {
			return err
		}
		if err := ptx.QueryRow(ctx, `SELECT count(*) FROM `+t.name).Scan(&p); err != nil {
			return err
		}
		if s != p || p != t.rows {
			return fmt.Errorf("table %s: %d rows in SQLite, %d in PostgreSQL", t.name, s, p)
		}
	}
	sums, err := blobSums(ctx, stx)
	if err != nil {
		return err
	}
	rows, err := ptx.Query(ctx, `SELECT id, sha256(data) FROM blobs ORDER BY id`)
	if err != nil {
		return err
	}
	seen := 0
	for rows.Next() {
		var id int64
		var sum []byte
		if err := rows.Scan(&id, &sum); err != nil {
			return err
		}
		if want, ok := sums[id]; !ok || !bytes.Equal(sum, want[:]) {
			return fmt.Errorf("message blob %d differs from SQLite's", id)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if seen != len(sums) {
		return fmt.Errorf("%d message blobs in SQLite, %d in PostgreSQL", len(sums), seen)
	}
	if rep.folders, err = compareTotals(ctx, stx, ptx,
		`SELECT mailbox_id, messages, unseen, deleted, size, deleted_size FROM mailbox_counts ORDER BY mailbox_id`); err != nil {
		return fmt.Errorf("folder totals: %w", err)
	}
	if rep.accounts, err = compareTotals(ctx, stx, ptx, `SELECT id, usage FROM accounts ORDER BY id`); err != nil {
		return fmt.Errorf("account usage: %w", err)
	}
	return nil
}

// blobSums reads the SHA-256 of every SQLite blob by id.
func blobSums(ctx context.Context, stx *sql.Tx) (map[int64][sha256.Size]byte, error) {
	rows, err := stx.QueryContext(ctx, `SELECT id, data FROM blobs`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sums := map[int64][sha256.Size]byte{}
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, err
		}
		sums[id] = sha256.Sum256(data)
	}
	return sums, rows.Err()
}

// compareTotals runs query (integer columns, ordered by the first) on
// both databases and says whether the rows agree; it returns how many.
func compareTotals(ctx context.Context, stx *sql.Tx, ptx pgx.Tx, query string) (int, error) {
	var want [][]int64
	srows, err := stx.QueryContext(ctx, query)
	if err != nil {
		return 0, err
	}
	cols, _ := srows.Columns()
	for srows.Next() {
		r := make([]int64, len(cols))
		ptrs := make([]any, len(cols))
		for i := range r {
			ptrs[i] = &r[i]
		}
		if err := srows.Scan(ptrs...); err != nil {
			srows.Close()
			return 0, err
		}
		want = append(want, r)
	}
	srows.Close()
	if err := srows.Err(); err != nil {
		return 0, err
	}
	prows, err := ptx.Query(ctx, query)
	if err != nil {
		return 0, err
	}
	defer prows.Close()
	i := 0
	for prows.Next() {
		r := make([]int64, len(cols))
		ptrs := make([]any, len(cols))
		for j := range r {
			ptrs[j] = &r[j]
		}
		if err := prows.Scan(ptrs...); err != nil {
			return 0, err
		}
		if i >= len(want) || !slices.Equal(r, want[i]) {
			return 0, fmt.Errorf("PostgreSQL has %v where SQLite has %v", r, rowAt(want, i))
		}
		i++
	}
	if err := prows.Err(); err != nil {
		return 0, err
	}
	if i != len(want) {
		return 0, fmt.Errorf("%d rows in SQLite, %d in PostgreSQL", len(want), i)
	}
	return i, nil
}

func rowAt(rows [][]int64, i int) any {
	if i < len(rows) {
		return rows[i]
	}
	return "nothing"
}
