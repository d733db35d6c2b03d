package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The database holds every message and the password hashes: only the
// user running Pillarbox may read it.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// prepareFiles makes the database's directory (mode 0700) and file (mode
// 0600) before SQLite opens it, whichever command comes first. SQLite
// would create the file 0644, and it gives the -wal and -shm files the
// mode of the database file, so creating that one right is enough. An
// existing database that others may read is tightened, with a log line.
func prepareFiles(path string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err == nil {
		// An empty file is a valid empty database to SQLite.
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if st.Mode().Perm()&^fileMode == 0 {
			continue
		}
		if err := os.Chmod(p, fileMode); err != nil {
			return fmt.Errorf("store: tighten %s: %w", p, err)
		}
		log.Warn("store: database file was readable by others; made it private", "file", p,
			"was", fmt.Sprintf("%#o", st.Mode().Perm()), "now", fmt.Sprintf("%#o", fileMode))
	}
	return nil
}
