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

// CreateAccount inserts an account; ErrExists if the address is taken by
// an account or an alias.
func (tx *Tx) CreateAccount(address, passwordHash string, now time.Time) (int64, error) {
	var n int
	if err := tx.queryRow(`SELECT count(*) FROM aliases WHERE address = ?`, address).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: create account: %w", err)
	}
	if n > 0 {
		return 0, fmt.Errorf("store: create account %s: an alias has that address: %w", address, store.ErrExists)
	}
	res, err := tx.exec(`INSERT INTO accounts(address, password_hash, created) VALUES (?, ?, ?)`,
		address, passwordHash, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("store: create account %s: %w", address, classify(err))
	}
	return res.LastInsertId()
}

// SetPassword replaces an account's password hash.
func (tx *Tx) SetPassword(address, passwordHash string) error {
	res, err := tx.exec(`UPDATE accounts SET password_hash = ?, credential = credential + 1 WHERE address = ?`, passwordHash, address)
	if err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	if err := mustAffect(res, "account "+address); err != nil {
		return err
	}
	tx.housework += indexAfterRows // the account's blobs, released
	return tx.touchAccounts()
}

// DeleteAccount removes an account with its mailboxes and messages.
// Aliases left without a target are removed too.
func (tx *Tx) DeleteAccount(address string) error {
	res, err := tx.exec(`DELETE FROM accounts WHERE address = ?`, address)
	if err != nil {
		return fmt.Errorf("store: delete account: %w", err)
	}
	if err := mustAffect(res, "account "+address); err != nil {
		return err
	}
	return tx.touchAccounts()
}

// accountsGeneration names the counters row that changes whenever an
// account is deleted or its password changes, so that a running server
// can notice such a change made by another process (the CLI) with one
// cheap read, and end the account's sessions.
const accountsGeneration = "accounts_generation"

func (tx *Tx) touchAccounts() error {
	return tx.bumpGeneration(accountsGeneration)
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
	// Chunks stay below SQLite's limit on bound parameters.
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q := `SELECT id, credential FROM accounts WHERE id IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		rows, err := db.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("store: credentials: %w", err)
		}
		for rows.Next() {
			var id, cred int64
			if err := rows.Scan(&id, &cred); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: credentials: %w", err)
			}
			out[id] = cred
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: credentials: %w", err)
		}
	}
	return out, nil
}

// CheckCredential fails with ErrNotFound unless account id still exists
// with the given credential generation. Writes made for a session call it
// inside their transaction, so that nothing is written for a session
// whose account went away or whose password changed.
func (tx *Tx) CheckCredential(id, credential int64) error {
	var n int
	if err := tx.queryRow(`SELECT count(*) FROM accounts WHERE id = ? AND credential = ?`, id, credential).Scan(&n); err != nil {
		return fmt.Errorf("store: check credential: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: account %d with credential %d: %w", id, credential, store.ErrNotFound)
	}
	return nil
}

// AccountByAddress looks an account up inside the transaction.
func (tx *Tx) AccountByAddress(address string) (store.Account, error) {
	return scanAccount(tx.queryRow(accountQuery+` WHERE address = ?`, address), address)
}

// SetAlias makes alias deliver to exactly the given accounts, replacing
// any previous targets. ErrExists if an account has that address,
// ErrNotFound if a target is not an account.
func (tx *Tx) SetAlias(alias string, targets []string) error {
	var n int
	if err := tx.queryRow(`SELECT count(*) FROM accounts WHERE address = ?`, alias).Scan(&n); err != nil {
		return fmt.Errorf("store: set alias: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("store: alias %s: an account has that address: %w", alias, store.ErrExists)
	}
	if _, err := tx.exec(`DELETE FROM aliases WHERE address = ?`, alias); err != nil {
		return fmt.Errorf("store: set alias: %w", err)
	}
	for _, t := range targets {
		res, err := tx.exec(`INSERT OR IGNORE INTO aliases(address, account_id)
			SELECT ?, id FROM accounts WHERE address = ?`, alias, t)
		if err != nil {
			return fmt.Errorf("store: set alias: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			if err := tx.queryRow(`SELECT count(*) FROM accounts WHERE address = ?`, t).Scan(&exists); err != nil {
				return fmt.Errorf("store: set alias: %w", err)
			}
			if exists == 0 {
				return fmt.Errorf("store: alias target %s is not an account: %w", t, store.ErrNotFound)
			}
		}
	}
	return nil
}

// DeleteAlias removes an alias; ErrNotFound if there is none.
func (tx *Tx) DeleteAlias(alias string) error {
	res, err := tx.exec(`DELETE FROM aliases WHERE address = ?`, alias)
	if err != nil {
		return fmt.Errorf("store: delete alias: %w", err)
	}
	return mustAffect(res, "alias "+alias)
}

const accountQuery = `SELECT id, address, password_hash, created, credential, quota, usage FROM accounts`

// AccountByAddress looks an account up by its normalised address.
func (db *DB) AccountByAddress(ctx context.Context, address string) (store.Account, error) {
	return scanAccount(db.rdb.QueryRowContext(ctx, accountQuery+` WHERE address = ?`, address), address)
}

// Accounts lists every account, ordered by address.
func (db *DB) Accounts(ctx context.Context) ([]store.Account, error) {
	rows, err := db.rdb.QueryContext(ctx, accountQuery+` ORDER BY address`)
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
	return out, rows.Err()
}

// AliasTargets returns the accounts an alias delivers to; ErrNotFound if
// address is not an alias.
func (db *DB) AliasTargets(ctx context.Context, address string) ([]store.Account, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT a.id, a.address, a.password_hash, a.created
		FROM aliases x JOIN accounts a ON a.id = x.account_id WHERE x.address = ? ORDER BY a.address`, address)
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
	rows, err := db.rdb.QueryContext(ctx, `SELECT x.address, a.address
		FROM aliases x JOIN accounts a ON a.id = x.account_id ORDER BY x.address, a.address`)
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
	return out, rows.Err()
}

func scanAccount(row *sql.Row, address string) (store.Account, error) {
	var a store.Account
	var created int64
	err := row.Scan(&a.ID, &a.Address, &a.PasswordHash, &created, &a.Credential, &a.Quota, &a.Usage)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("store: account %s: %w", address, store.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("store: account %s: %w", address, err)
	}
	a.Created = time.Unix(created, 0)
	return a, nil
}

func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, store.ErrNotFound)
	}
	return nil
}

// AccountAddress returns the address of an account inside the
// transaction; ErrNotFound if there is none.
func (tx *Tx) AccountAddress(id int64) (string, error) {
	var a string
	err := tx.queryRow(`SELECT address FROM accounts WHERE id = ?`, id).Scan(&a)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: account %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: account %d: %w", id, err)
	}
	return a, nil
}
