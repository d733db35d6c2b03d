package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store/postgres"
	"pillarbox/store/sqlite"
)

// cmdMigrate copies the SQLite data directory of the configuration into
// an empty PostgreSQL database (issue 12):
//
//	pillarbox migrate --to postgres --dsn DSN [--config FILE]
//
// The copy is one PostgreSQL transaction: it commits only after every
// table's rows are counted on both sides, every message's bytes compared
// by checksum, and the totals the triggers derived (folder counts,
// account usage) found equal to SQLite's. serve must not run on the
// SQLite directory meanwhile.
func cmdMigrate(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("migrate")
	to := fs.String("to", "", "the store to copy into: postgres")
	dsn := fs.String("dsn", "", "the PostgreSQL database (postgres://… URL or key=value string)")
	dsnFile := fs.String("dsn-file", "", "a file holding the DSN, instead of --dsn")
	if _, err := parseCommand(fs, args, 0, migrateUsage); err != nil {
		return err
	}
	if *to != "postgres" {
		return fmt.Errorf("migrate: --to postgres is required, the only store there is to copy into (usage: %s)", migrateUsage)
	}
	target, err := readDSN(*dsn, *dsnFile)
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	path := dbPath(cfg)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("migrate: no SQLite store at %s: %w", path, err)
	}
	// Opening it the usual way first brings its schema to this build's
	// version, which is the PostgreSQL schema's too.
	sdb, err := sqlite.Open(path, sqlite.Options{SearchText: mailbox.TextFunc(mailbox.Limits{})})
	if err != nil {
		return err
	}
	sdb.Close()
	src, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+"?mode=ro&_txlock=deferred")
	if err != nil {
		return err
	}
	defer src.Close()
	pdb, err := postgres.Open(ctx, target)
	if err != nil {
		return err
	}
	defer pdb.Close()
	began := time.Now()
	rep, err := copyToPostgres(ctx, src, pdb.Pool())
	if err != nil {
		return fmt.Errorf("migrate: %w (nothing was committed to PostgreSQL)", err)
	}
	fmt.Fprintf(e.stdout, "migrated %s to PostgreSQL in %s:\n", path, time.Since(began).Round(time.Millisecond))
	for _, t := range rep.tables {
		fmt.Fprintf(e.stdout, "  %-18s %8d rows\n", t.name, t.rows)
	}
	fmt.Fprintf(e.stdout, "verified: row counts of every table, %d message checksums (SHA-256), %d folder totals and %d account usages as the triggers derived them\n",
		rep.blobs, rep.folders, rep.accounts)
	fmt.Fprintln(e.stdout, `serve on it with [store] driver = "postgres" and the same DSN; the SQLite directory is left as it was`)
	return nil
}

// readDSN returns the DSN given by --dsn or read from --dsn-file.
func readDSN(dsn, file string) (string, error) {
	switch {
	case dsn != "" && file != "":
		return "", fmt.Errorf("migrate: give --dsn or --dsn-file, not both (usage: %s)", migrateUsage)
	case file != "":
		var err error
		if dsn, err = readDSNFile(file); err != nil {
			return "", fmt.Errorf("migrate: --dsn-file: %w", err)
		}
	}
	if dsn == "" {
		return "", fmt.Errorf("migrate: --dsn or --dsn-file is required (usage: %s)", migrateUsage)
	}
	return dsn, nil
}

const migrateUsage = "pillarbox migrate --to postgres --dsn DSN | --dsn-file FILE [--config FILE]"

var errNotEmpty = errors.New("the PostgreSQL database already holds accounts or messages; migrate copies only into an empty one")
