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

// Domains and their DKIM keys, as the SQLite store keeps them (its
// domains.go). ErrExists comes from ON CONFLICT DO NOTHING, not from a
// failing statement, so that the transaction stays usable (accounts.go).

// domainsGeneration names the counters row that changes whenever a
// domain or one of its keys is added, changed or removed, so that every
// node notices a change made by the CLI or another node with one read.
const domainsGeneration = "domains_generation"

func domainsTouch(tx *Tx) error { return tx.bumpGeneration(domainsGeneration) }

// DomainsGeneration reads the counter that domain and key changes bump;
// 0 before the first.
func (db *DB) DomainsGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, domainsGeneration)
}

// CreateDomain inserts a domain; ErrExists if it is there already (also
// when another node adds it at the same moment: this insert waits for
// that one's commit, then finds the name taken).
func (tx *Tx) CreateDomain(name string, now time.Time) (int64, error) {
	var id int64
	err := tx.queryRow(`INSERT INTO domains(name, created) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, now.Unix()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("store: create domain %s: %w", name, store.ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("store: create domain %s: %w", name, classify(err))
	}
	if err := domainsTouch(tx); err != nil {
		return 0, err
	}
	return id, nil
}

// DomainByName looks a domain up inside the transaction.
func (tx *Tx) DomainByName(name string) (store.Domain, error) {
	var d store.Domain
	var created int64
	err := tx.queryRow(`SELECT id, name, created FROM domains WHERE name = $1`, name).Scan(&d.ID, &d.Name, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Domain{}, fmt.Errorf("store: domain %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Domain{}, fmt.Errorf("store: domain %s: %w", name, err)
	}
	d.Created = time.Unix(created, 0)
	return d, nil
}

// domainsUserPattern matches, with domainsUserMatch, the normalised
// addresses of domain: they end in "@" + domain.
func domainsUserPattern(domain string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%@" + r.Replace(domain)
}

// domainsUserMatch is SQLite's LIKE, which ignores the case of ASCII
// letters only: lower() under the "C" collation folds just those.
const domainsUserMatch = `lower(address COLLATE "C") LIKE lower($1 COLLATE "C")`

// DomainUsers counts the accounts and aliases whose address is in
// domain.
func (tx *Tx) DomainUsers(name string) (accounts, aliases int, err error) {
	pat := domainsUserPattern(name)
	if err := tx.queryRow(`SELECT count(*) FROM accounts WHERE `+domainsUserMatch, pat).Scan(&accounts); err != nil {
		return 0, 0, fmt.Errorf("store: domain users: %w", err)
	}
	if err := tx.queryRow(`SELECT count(DISTINCT address) FROM aliases WHERE `+domainsUserMatch, pat).Scan(&aliases); err != nil {
		return 0, 0, fmt.Errorf("store: domain users: %w", err)
	}
	return accounts, aliases, nil
}

// DeleteDomainUsers removes the accounts (with their mail) and aliases
// of domain.
func (tx *Tx) DeleteDomainUsers(name string) error {
	pat := domainsUserPattern(name)
	if _, err := tx.exec(`DELETE FROM aliases WHERE `+domainsUserMatch, pat); err != nil {
		return fmt.Errorf("store: delete domain users: %w", err)
	}
	tag, err := tx.exec(`DELETE FROM accounts WHERE `+domainsUserMatch, pat)
	if err != nil {
		return fmt.Errorf("store: delete domain users: %w", err)
	}
	if tag.RowsAffected() > 0 {
		return accountsTouch(tx)
	}
	return nil
}

// DeleteDomain removes a domain and its keys; ErrNotFound if there is
// none.
func (tx *Tx) DeleteDomain(name string) error {
	tag, err := tx.exec(`DELETE FROM domains WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("store: delete domain: %w", err)
	}
	if err := dirAffected(tag, "domain "+name); err != nil {
		return err
	}
	return domainsTouch(tx)
}

// Domains lists the domains, ordered by name.
func (db *DB) Domains(ctx context.Context) ([]store.Domain, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, created FROM domains ORDER BY name COLLATE "C"`)
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

// AddDKIMKey stores a key of domain domainID in state; ErrExists if the
// domain has a key with that selector. An unknown algorithm or state is
// refused by the table's CHECK, which (unlike ErrExists) aborts the
// transaction.
func (tx *Tx) AddDKIMKey(domainID int64, selector, algorithm, state string, privateKey []byte, now time.Time) (int64, error) {
	var id int64
	err := tx.queryRow(`INSERT INTO dkim_keys(domain_id, selector, algorithm, private_key, created, state, changed)
		VALUES ($1, $2, $3, $4, $5, $6, $5) ON CONFLICT (domain_id, selector) DO NOTHING RETURNING id`,
		domainID, selector, algorithm, privateKey, now.Unix(), state).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("store: add DKIM key %s: %w", selector, store.ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("store: add DKIM key %s: %w", selector, classify(err))
	}
	if err := domainsTouch(tx); err != nil {
		return 0, err
	}
	return id, nil
}

// SetDKIMKeyState moves key id to state.
func (tx *Tx) SetDKIMKeyState(id int64, state string, now time.Time) error {
	tag, err := tx.exec(`UPDATE dkim_keys SET state = $1, changed = $2 WHERE id = $3`, state, now.Unix(), id)
	if err != nil {
		return fmt.Errorf("store: DKIM key state: %w", err)
	}
	if err := dirAffected(tag, fmt.Sprintf("DKIM key %d", id)); err != nil {
		return err
	}
	return domainsTouch(tx)
}

// DeleteDKIMKey removes key id.
func (tx *Tx) DeleteDKIMKey(id int64) error {
	tag, err := tx.exec(`DELETE FROM dkim_keys WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete DKIM key: %w", err)
	}
	if err := dirAffected(tag, fmt.Sprintf("DKIM key %d", id)); err != nil {
		return err
	}
	return domainsTouch(tx)
}

// domainsKeysSelect reads DKIMKey rows, as domainsScanKeys expects them.
const domainsKeysSelect = `SELECT k.id, k.domain_id, d.name, k.selector, k.algorithm,
	k.private_key, k.created, k.state, k.changed FROM dkim_keys k JOIN domains d ON d.id = k.domain_id`

// DomainDKIMKeys lists the keys of domain domainID inside the
// transaction, oldest first.
func (tx *Tx) DomainDKIMKeys(domainID int64) ([]store.DKIMKey, error) {
	rows, err := tx.query(domainsKeysSelect+` WHERE k.domain_id = $1 ORDER BY k.id`, domainID)
	if err != nil {
		return nil, fmt.Errorf("store: DKIM keys: %w", err)
	}
	return domainsScanKeys(rows)
}

// DKIMKeys lists the keys of every domain, ordered by domain, then age.
func (db *DB) DKIMKeys(ctx context.Context) ([]store.DKIMKey, error) {
	rows, err := db.pool.Query(ctx, domainsKeysSelect+` ORDER BY d.name COLLATE "C", k.id`)
	if err != nil {
		return nil, fmt.Errorf("store: DKIM keys: %w", err)
	}
	return domainsScanKeys(rows)
}

func domainsScanKeys(rows pgx.Rows) ([]store.DKIMKey, error) {
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
