package sqlite

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFilesArePrivate: a new database lives in a 0700 directory and
// every file of it (the database, its WAL and shared memory) is 0600,
// whatever the umask allowed. Hostile testing found pillarbox.db created
// 0644 in a 0750 directory by the CLI's first run.
func TestFilesArePrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	db, err := Open(filepath.Join(dir, "pillarbox.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.write(t.Context(), func(tx *Tx) error {
		_, err := tx.CreateAccount("a@x.org", "h", testNow)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	checkModes(t, dir)
	db.Close()
}

func checkModes(t *testing.T, dir string) {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %#o, want 0700", st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 {
		t.Fatalf("only %d files in %s", len(entries), dir)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", e.Name(), info.Mode().Perm())
		}
	}
}

// TestOpenTightensExistingDatabase: a database made readable by others
// (by an older version, or by hand) is made private at the next open,
// and the log says so.
func TestOpenTightensExistingDatabase(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "pillarbox.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	db, err = Open(path, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkModes(t, dir)
	if !strings.Contains(log.String(), "made it private") || !strings.Contains(log.String(), "was=0644") {
		t.Fatalf("no log line about the tightened file:\n%s", log.String())
	}
}
