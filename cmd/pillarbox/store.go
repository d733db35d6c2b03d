package main

import (
	"errors"
	"log/slog"
	"time"

	"pillarbox/store"
	"pillarbox/store/sqlite"
)

// storeHooks are what serve passes to the store it opens.
type storeHooks struct {
	log           *slog.Logger
	observeCommit func(requests int, took time.Duration)
}

// openStore opens the store [store] names.
func openStore(cfg *Config, h storeHooks) (store.Store, error) {
	switch cfg.Store.Driver {
	case "postgres":
		return nil, errors.New(`store: driver "postgres" is not served yet (issue 12 is in progress); pillarbox migrate --to postgres already copies a data directory into PostgreSQL`)
	default:
		return sqlite.Open(dbPath(cfg), sqlite.Options{Logger: h.log, ObserveCommit: h.observeCommit})
	}
}
