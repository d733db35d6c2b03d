package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"pillarbox/store"
	"time"
)

// domainsGeneration names the counters row that changes whenever a
// domain or one of its keys is added or removed, so that a running server
// notices a change made by the CLI in another process with one cheap read.
const domainsGeneration = "domains_generation"

func (tx *Tx) touchDomains() error {
	return tx.bumpGeneration(domainsGeneration)
}

// DomainsGeneration reads the counter that domain and key changes bump;
// 0 before the first.
func (db *DB) DomainsGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, domainsGeneration)
}

// CreateDomain inserts a domain; ErrExists if it is there already.
func (tx *Tx) CreateDomain(name string, now time.Time) (int64, error) {
	res, err := tx.exec(`INSERT INTO domains(name, created) VALUES (?, ?)`, name, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("store: create domain %s: %w", name, classify(err))
	}
	if err := tx.touchDomains(); err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// DomainByName looks a domain up inside the transaction.
func (tx *Tx) DomainByName(name string) (store.Domain, error) {
	var d store.Domain
	var created int64
	err := tx.queryRow(`SELECT id, name, created FROM domains WHERE name = ?`, name).Scan(&d.ID, &d.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("store: domain %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("store: domain %s: %w", name, err)
	}
	d.Created = time.Unix(created, 0)
	return d, nil
}

// AddDKIMKey stores a key of domain domainID in state; ErrExists if the
// domain has a key with that selector.
func (tx *Tx) AddDKIMKey(domainID int64, selector, algorithm, state string, privateKey []byte, now time.Time) (int64, error) {
	res, err := tx.exec(`INSERT INTO dkim_keys(domain_id, selector, algorithm, private_key, created, state, changed)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, domainID, selector, algorithm, privateKey, now.Unix(), state, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("store: add DKIM key %s: %w", selector, classify(err))
	}
	if err := tx.touchDomains(); err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// SetDKIMKeyState moves key id to state.
func (tx *Tx) SetDKIMKeyState(id int64, state string, now time.Time) error {
	res, err := tx.exec(`UPDATE dkim_keys SET state = ?, changed = ? WHERE id = ?`, state, now.Unix(), id)
	if err != nil {
		return fmt.Errorf("store: DKIM key state: %w", err)
	}
	if err := mustAffect(res, fmt.Sprintf("DKIM key %d", id)); err != nil {
		return err
	}
	return tx.touchDomains()
}

// DeleteDKIMKey removes key id.
func (tx *Tx) DeleteDKIMKey(id int64) error {
	res, err := tx.exec(`DELETE FROM dkim_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete DKIM key: %w", err)
	}
	if err := mustAffect(res, fmt.Sprintf("DKIM key %d", id)); err != nil {
		return err
	}
	return tx.touchDomains()
}

// DomainDKIMKeys lists the keys of domain domainID inside the
// transaction, oldest first.
func (tx *Tx) DomainDKIMKeys(domainID int64) ([]store.DKIMKey, error) {
	rows, err := tx.query(dkimKeysSelect+` WHERE k.domain_id = ? ORDER BY k.id`, domainID)
	if err != nil {
		return nil, fmt.Errorf("store: DKIM keys: %w", err)
	}
	return scanDKIMKeys(rows)
}

// DomainUsers counts the accounts and aliases whose address is in
// domain (normalised addresses end in "@" + domain).
func (tx *Tx) DomainUsers(name string) (accounts, aliases int, err error) {
	pat := "%@" + likeEscape(name)
	if err := tx.queryRow(`SELECT count(*) FROM accounts WHERE address LIKE ? ESCAPE '\'`, pat).Scan(&accounts); err != nil {
		return 0, 0, fmt.Errorf("store: domain users: %w", err)
	}
	if err := tx.queryRow(`SELECT count(DISTINCT address) FROM aliases WHERE address LIKE ? ESCAPE '\'`, pat).Scan(&aliases); err != nil {
		return 0, 0, fmt.Errorf("store: domain users: %w", err)
	}
	return accounts, aliases, nil
}

// DeleteDomainUsers removes the accounts (with their mail) and aliases
// of domain.
func (tx *Tx) DeleteDomainUsers(name string) error {
	pat := "%@" + likeEscape(name)
	if _, err := tx.exec(`DELETE FROM aliases WHERE address LIKE ? ESCAPE '\'`, pat); err != nil {
		return fmt.Errorf("store: delete domain users: %w", err)
	}
	res, err := tx.exec(`DELETE FROM accounts WHERE address LIKE ? ESCAPE '\'`, pat)
	if err != nil {
		return fmt.Errorf("store: delete domain users: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		tx.housework += indexAfterRows // the accounts' blobs, released
		return tx.touchAccounts()
	}
	return nil
}

// DeleteDomain removes a domain and its keys; ErrNotFound if there is
// none.
func (tx *Tx) DeleteDomain(name string) error {
	res, err := tx.exec(`DELETE FROM domains WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("store: delete domain: %w", err)
	}
	if err := mustAffect(res, "domain "+name); err != nil {
		return err
	}
	return tx.touchDomains()
}

// Domains lists the domains, ordered by name.
func (db *DB) Domains(ctx context.Context) ([]store.Domain, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT id, name, created FROM domains ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: domains: %w", err)
	}
	defer rows.Close()
	var out []store.Domain
	for rows.Next() {
		var d store.Domain
		var created int64
		if err := rows.Scan(&d.ID, &d.Name, &created); err != nil {
			return nil, fmt.Errorf("store: domains: %w", err)
		}
		d.Created = time.Unix(created, 0)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: domains: %w", err)
	}
	return out, nil
}

// dkimKeysSelect reads DKIMKey rows, as scanDKIMKeys expects them.
const dkimKeysSelect = `SELECT k.id, k.domain_id, d.name, k.selector, k.algorithm,
	k.private_key, k.created, k.state, k.changed FROM dkim_keys k JOIN domains d ON d.id = k.domain_id`

// DKIMKeys lists the keys of every domain, ordered by domain, then age.
func (db *DB) DKIMKeys(ctx context.Context) ([]store.DKIMKey, error) {
	rows, err := db.rdb.QueryContext(ctx, dkimKeysSelect+` ORDER BY d.name, k.id`)
	if err != nil {
		return nil, fmt.Errorf("store: DKIM keys: %w", err)
	}
	return scanDKIMKeys(rows)
}

func scanDKIMKeys(rows *sql.Rows) ([]store.DKIMKey, error) {
	defer rows.Close()
	var out []store.DKIMKey
	for rows.Next() {
		var k store.DKIMKey
		var created, changed int64
		if err := rows.Scan(&k.ID, &k.DomainID, &k.Domain, &k.Selector, &k.Algorithm, &k.PrivateKey, &created, &k.State, &changed); err != nil {
			return nil, fmt.Errorf("store: DKIM keys: %w", err)
		}
		k.Created, k.Changed = time.Unix(created, 0), time.Unix(changed, 0)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: DKIM keys: %w", err)
	}
	return out, nil
}
