package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"pillarbox/store"
)

// The relay's MTA-STS policy cache, as the SQLite store keeps it (its
// mtasts.go): one row per policy domain, times in Unix milliseconds.
// Nodes share it: a policy one of them fetched serves them all.

// PutMTASTSPolicy adds or replaces the policy of p.Domain. Two nodes
// putting one domain at once both succeed, the later commit's row
// staying.
func (db *DB) PutMTASTSPolicy(ctx context.Context, p store.MTASTSPolicy) error {
	err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO mta_sts_policies(domain, policy_id, policy, fetched, expires, last_used)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, policy = excluded.policy,
				fetched = excluded.fetched, expires = excluded.expires, last_used = excluded.last_used`,
			p.Domain, p.ID, p.Policy, p.Fetched.UnixMilli(), p.Expires.UnixMilli(), p.LastUsed.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put MTA-STS policy of %s: %w", p.Domain, err)
	}
	return nil
}

// MTASTSPolicy returns the cached policy of domain; ErrNotFound (bare,
// as in SQLite) if there is none.
func (db *DB) MTASTSPolicy(ctx context.Context, domain string) (store.MTASTSPolicy, error) {
	p, err := mtastsScan(db.pool.QueryRow(ctx, mtastsQuery+` WHERE domain = $1`, domain))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.MTASTSPolicy{}, store.ErrNotFound
	}
	if err != nil {
		return store.MTASTSPolicy{}, fmt.Errorf("store: MTA-STS policy of %s: %w", domain, err)
	}
	return p, nil
}

// StaleMTASTSPolicies returns the policies fetched before fetchedBefore
// or expiring before expiresBefore, in byte order of domain.
func (db *DB) StaleMTASTSPolicies(ctx context.Context, fetchedBefore, expiresBefore time.Time) ([]store.MTASTSPolicy, error) {
	rows, err := db.pool.Query(ctx, mtastsQuery+` WHERE fetched < $1 OR expires < $2 ORDER BY domain COLLATE "C"`,
		fetchedBefore.UnixMilli(), expiresBefore.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: stale MTA-STS policies: %w", err)
	}
	defer rows.Close()
	var out []store.MTASTSPolicy
	for rows.Next() {
		p, err := mtastsScan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: stale MTA-STS policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: stale MTA-STS policies: %w", err)
	}
	return out, nil
}

// DeleteMTASTSPolicy removes the policy of domain, if any.
func (db *DB) DeleteMTASTSPolicy(ctx context.Context, domain string) error {
	err := db.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(`DELETE FROM mta_sts_policies WHERE domain = $1`, domain)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete MTA-STS policy of %s: %w", domain, err)
	}
	return nil
}

const mtastsQuery = `SELECT domain, policy_id, policy, fetched, expires, last_used FROM mta_sts_policies`

func mtastsScan(row pgx.Row) (store.MTASTSPolicy, error) {
	var p store.MTASTSPolicy
	var fetched, expires, used int64
	if err := row.Scan(&p.Domain, &p.ID, &p.Policy, &fetched, &expires, &used); err != nil {
		return store.MTASTSPolicy{}, err
	}
	p.Fetched, p.Expires, p.LastUsed = time.UnixMilli(fetched), time.UnixMilli(expires), time.UnixMilli(used)
	return p, nil
}
