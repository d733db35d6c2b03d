package pgtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
)

// errNoBinaries is what a test that needs a database is skipped with when
// there is no PostgreSQL server to run.
var errNoBinaries = errors.New("postgresql server binaries not found: install Debian's postgresql package or set PILLARBOX_PG_BIN")

// findBinaries returns the directory holding initdb and postgres:
// $PILLARBOX_PG_BIN if set (an error if they are not there: the setting
// was meant), then the directory of postgres on PATH, then the newest
// /usr/lib/postgresql/N/bin, where Debian puts them off PATH.
func findBinaries() (string, error) {
	if dir := os.Getenv("PILLARBOX_PG_BIN"); dir != "" {
		if !hasServer(dir) {
			return "", errors.New("PILLARBOX_PG_BIN=" + dir + " holds no initdb and postgres")
		}
		return dir, nil
	}
	if path, err := exec.LookPath("postgres"); err == nil && hasServer(filepath.Dir(path)) {
		return filepath.Dir(path), nil
	}
	for _, dir := range debianBinDirs() {
		if hasServer(dir) {
			return dir, nil
		}
	}
	return "", errNoBinaries
}

// debianBinDirs lists /usr/lib/postgresql/*/bin, newest major version
// first (numerically: 9.6 < 10).
func debianBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}
