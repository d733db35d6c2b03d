package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"pillarbox/store"
)

// Accounts and aliases, as the SQLite store keeps them (its accounts.go
// is the specification). Two differences come from PostgreSQL:
//
//   - A failed statement aborts the whole transaction, where SQLite
//     undoes only the statement. Callers go on after ErrExists (AddDomain
//     makes postmaster@ unless an alias has the address), so the expected
//     refusals are answered without a failing statement: a check first,
//     or INSERT ... ON CONFLICT DO NOTHING and no row back.
//   - SQLite's single writer made "no alias has this address, so insert
//     the account" one step; writers of several nodes would both pass the
//     check. The address's advisory lock (accountsLockAddresses) makes it
//     one step again.
//
// Lists are ordered with COLLATE "C", byte order as SQLite's BINARY,
// whatever the database's collation.

// accountsGeneration names the counters row that changes whenever an
// account is deleted or its password changes, so that every node (and the
// CLI) notices with one cheap read and ends the account's sessions.
const accountsGeneration = "accounts_generation"

// accountsAddressLock is the first key of the advisory locks on
// addresses (the second is the address's hash); the two-key space is
// apart from the migrations' one-key lock. "pbad" in ASCII.
const accountsAddressLock int32 = 0x70626164

// accountsLockAddresses takes, until the commit, the advisory lock of
// each address, in one order for every caller so that two writers
// locking the same pair do not deadlock each other. After it, the next
// statement (READ COMMITTED) sees what an earlier holder committed.
// A hash collision only makes two addresses wait for each other.
func accountsLockAddresses(tx *Tx, addrs ...string) error {
	_, err := tx.exec(`SELECT pg_advisory_xact_lock($1, h) FROM
		(SELECT DISTINCT hashtext(a) AS h FROM unnest($2::text[]) AS a ORDER BY h) AS s`,
		accountsAddressLock, addrs)
	if err != nil {
		return fmt.Errorf("store: lock addresses: %w", err)
	}
	return nil
}

func accountsTouch(tx *Tx) error { return tx.bumpGeneration(accountsGeneration) }

// dirAffected is ErrNotFound when a change touched no row.
func dirAffected(tag pgconn.CommandTag, what string) error {
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: %s: %w", what, store.ErrNotFound)
	}
	return nil
}

// CreateAccount inserts an account; ErrExists if the address is taken by
// an account or an alias.
func (tx *Tx) CreateAccount(address, passwordHash string, now time.Time) (int64, error) {
	if err := accountsLockAddresses(tx, address); err != nil {
		return 0, err
	}
	var n int
	if err := tx.queryRow(`SELECT count(*) FROM aliases WHERE address = $1`, address).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: create account: %w", err)
	}
	if n > 0 {
		return 0, fmt.Errorf("store: create account %s: an alias has that address: %w", address, store.ErrExists)
	}
	var id int64
	err := tx.queryRow(`INSERT INTO accounts(address, password_hash, created) VALUES ($1, $2, $3)
		ON CONFLICT (address) DO NOTHING RETURNING id`, address, passwordHash, now.Unix()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("store: create account %s: %w", address, store.ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("store: create account %s: %w", address, classify(err))
	}
	return id, nil
}

// SetPassword replaces an account's password hash and moves its
// credential generation on.
func (tx *Tx) SetPassword(address, passwordHash string) error {
	tag, err := tx.exec(`UPDATE accounts SET password_hash = $1, credential = credential + 1 WHERE address = $2`, passwordHash, address)
	if err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	if err := dirAffected(tag, "account "+address); err != nil {
		return err
	}
	return accountsTouch(tx)
}

// DeleteAccount removes an account with its mailboxes and messages.
// Aliases left without a target go too (the foreign key's cascade).
func (tx *Tx) DeleteAccount(address string) error {
	// An alias being pointed at the account meanwhile waits, then finds
	// it gone, rather than failing on the foreign key.
	if err := accountsLockAddresses(tx, address); err != nil {
		return err
	}
	tag, err := tx.exec(`DELETE FROM accounts WHERE address = $1`, address)
	if err != nil {
		return fmt.Errorf("store: delete account: %w", err)
	}
	if err := dirAffected(tag, "account "+address); err != nil {
		return err
	}
	return accountsTouch(tx)
}

// AccountsGeneration reads the counter that account deletions and
// password changes bump; 0 before the first.
func (db *DB) AccountsGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, accountsGeneration)
}

// Credentials returns the credential generation of each of the given
// accounts that still exists.
func (db *DB) Credentials(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	// One array parameter, however many ids: no chunks as in SQLite.
	rows, err := db.pool.Query(ctx, `SELECT id, credential FROM accounts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("store: credentials: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, cred int64
		if err := rows.Scan(&id, &cred); err != nil {
			return nil, fmt.Errorf("store: credentials: %w", err)
		}
		out[id] = cred
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: credentials: %w", err)
	}
	return out, nil
}

// CheckCredential fails with ErrNotFound unless account id still exists
// with the given credential generation. Writes made for a session call it
// inside their transaction, so that nothing is written for a session
// whose account went away or whose password changed.
func (tx *Tx) CheckCredential(id, credential int64) error {
	var n int
	if err := tx.queryRow(`SELECT count(*) FROM accounts WHERE id = $1 AND credential = $2`, id, credential).Scan(&n); err != nil {
		return fmt.Errorf("store: check credential: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: account %d with credential %d: %w", id, credential, store.ErrNotFound)
	}
	return nil
}

const accountsQuery = `SELECT id, address, password_hash, created, credential, quota, usage FROM accounts`

// AccountByAddress looks an account up inside the transaction.
func (tx *Tx) AccountByAddress(address string) (store.Account, error) {
	return accountsScanOne(tx.queryRow(accountsQuery+` WHERE address = $1`, address), address)
}

// AccountByAddress looks an account up by its normalised address.
func (db *DB) AccountByAddress(ctx context.Context, address string) (store.Account, error) {
	return accountsScanOne(db.pool.QueryRow(ctx, accountsQuery+` WHERE address = $1`, address), address)
}

// AccountAddress returns the address of an account inside the
// transaction; ErrNotFound if there is none.
func (tx *Tx) AccountAddress(id int64) (string, error) {
	var a string
	err := tx.queryRow(`SELECT address FROM accounts WHERE id = $1`, id).Scan(&a)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("store: account %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: account %d: %w", id, err)
	}
	return a, nil
}

// Accounts lists every account, ordered by address.
func (db *DB) Accounts(ctx context.Context) ([]store.Account, error) {
	rows, err := db.pool.Query(ctx, accountsQuery+` ORDER BY address COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a store.Account
		var created int64
		if err := rows.Scan(&a.ID, &a.Address, &a.PasswordHash, &created, &a.Credential, &a.Quota, &a.Usage); err != nil {
			return nil, fmt.Errorf("store: accounts: %w", err)
		}
		a.Created = time.Unix(created, 0)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	return out, nil
}

func accountsScanOne(row pgx.Row, address string) (store.Account, error) {
	var a store.Account
	var created int64
	err := row.Scan(&a.ID, &a.Address, &a.PasswordHash, &created, &a.Credential, &a.Quota, &a.Usage)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Account{}, fmt.Errorf("store: account %s: %w", address, store.ErrNotFound)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("store: account %s: %w", address, err)
	}
	a.Created = time.Unix(created, 0)
	return a, nil
}

// SetAlias makes alias deliver to exactly the given accounts, replacing
// any previous targets. ErrExists if an account has that address,
// ErrNotFound if a target is not an account.
func (tx *Tx) SetAlias(alias string, targets []string) error {
	// The alias's lock against an account being made at its address; the
	// targets' against their deletion between the lookup and the insert.
	if err := accountsLockAddresses(tx, append([]string{alias}, targets...)...); err != nil {
		return err
	}
	var n int
	if err := tx.queryRow(`SELECT count(*) FROM accounts WHERE address = $1`, alias).Scan(&n); err != nil {
		return fmt.Errorf("store: set alias: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("store: alias %s: an account has that address: %w", alias, store.ErrExists)
	}
	// The first target that is no account, in the order given, as the
	// SQLite store finds it one by one; none is changed then.
	var found []string
	rows, err := tx.query(`SELECT address FROM accounts WHERE address = ANY($1)`, targets)
	if err == nil {
		found, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return fmt.Errorf("store: set alias: %w", err)
	}
	for _, t := range targets {
		if !slices.Contains(found, t) {
			return fmt.Errorf("store: alias target %s is not an account: %w", t, store.ErrNotFound)
		}
	}
	if _, err := tx.exec(`DELETE FROM aliases WHERE address = $1`, alias); err != nil {
		return fmt.Errorf("store: set alias: %w", err)
	}
	if _, err := tx.exec(`INSERT INTO aliases(address, account_id)
		SELECT $1, id FROM accounts WHERE address = ANY($2) ON CONFLICT DO NOTHING`, alias, targets); err != nil {
		return fmt.Errorf("store: set alias: %w", err)
	}
	return nil
}

// DeleteAlias removes an alias; ErrNotFound if there is none.
func (tx *Tx) DeleteAlias(alias string) error {
	tag, err := tx.exec(`DELETE FROM aliases WHERE address = $1`, alias)
	if err != nil {
		return fmt.Errorf("store: delete alias: %w", err)
	}
	return dirAffected(tag, "alias "+alias)
}

// AliasTargets returns the accounts an alias delivers to; ErrNotFound if
// address is not an alias. As in SQLite, only the id, address, password
// hash and creation of each are read.
func (db *DB) AliasTargets(ctx context.Context, address string) ([]store.Account, error) {
	rows, err := db.pool.Query(ctx, `SELECT a.id, a.address, a.password_hash, a.created
		FROM aliases x JOIN accounts a ON a.id = x.account_id WHERE x.address = $1 ORDER BY a.address COLLATE "C"`, address)
	if err != nil {
		return nil, fmt.Errorf("store: alias: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a store.Account
		var created int64
		if err := rows.Scan(&a.ID, &a.Address, &a.PasswordHash, &created); err != nil {
			return nil, fmt.Errorf("store: alias: %w", err)
		}
		a.Created = time.Unix(created, 0)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: alias: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: alias %s: %w", address, store.ErrNotFound)
	}
	return out, nil
}

// Aliases lists every alias with its targets, ordered by address.
func (db *DB) Aliases(ctx context.Context) ([]store.Alias, error) {
	rows, err := db.pool.Query(ctx, `SELECT x.address, a.address
		FROM aliases x JOIN accounts a ON a.id = x.account_id
		ORDER BY x.address COLLATE "C", a.address COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("store: aliases: %w", err)
	}
	defer rows.Close()
	var out []store.Alias
	for rows.Next() {
		var alias, target string
		if err := rows.Scan(&alias, &target); err != nil {
			return nil, fmt.Errorf("store: aliases: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Address != alias {
			out = append(out, store.Alias{Address: alias})
		}
		last := &out[len(out)-1]
		last.Targets = append(last.Targets, target)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: aliases: %w", err)
	}
	return out, nil
}
