package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/postgres"
	"pillarbox/store/sqlite"
)

// storeHooks are what serve passes to the store it opens.
type storeHooks struct {
	log           *slog.Logger
	observeCommit func(requests int, took time.Duration)
}

// openStore opens the store [store] names: the SQLite file in data_dir,
// or the PostgreSQL database of dsn or dsn_file, migrated to this
// build's schema.
func openStore(ctx context.Context, cfg *Config, h storeHooks) (store.Store, error) {
	if cfg.Store.Driver != "postgres" {
		return sqlite.Open(dbPath(cfg), sqlite.Options{Logger: h.log, ObserveCommit: h.observeCommit,
			SearchText: mailbox.TextFunc(mailbox.Limits{})})
	}
	dsn, err := storeDSN(cfg)
	if err != nil {
		return nil, err
	}
	var opts []postgres.Option
	if h.log != nil {
		opts = append(opts, postgres.Logger(h.log))
	}
	if h.observeCommit != nil {
		opts = append(opts, postgres.ObserveCommit(h.observeCommit))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, dsn, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return db, nil
}

// storeDSN is [store] dsn, or the first line of dsn_file.
func storeDSN(cfg *Config) (string, error) {
	if cfg.Store.DSNFile == "" {
		return cfg.Store.DSN, nil
	}
	dsn, err := readDSNFile(cfg.Store.DSNFile)
	if err != nil {
		return "", fmt.Errorf("store: dsn_file: %w", err)
	}
	return dsn, nil
}

// readDSNFile reads a DSN from the first line of a file (what follows,
// a comment say, is left alone), for dsn_file and migrate --dsn-file.
func readDSNFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	dsn, _, _ := strings.Cut(string(b), "\n")
	if dsn = strings.TrimSpace(dsn); dsn == "" {
		return "", fmt.Errorf("%s: no DSN on its first line", path)
	}
	return dsn, nil
}
