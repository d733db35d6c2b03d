package pgtest

import (
	"net/url"
	"strings"
)

// setDatabase returns dsn with its database replaced by name (a plain
// identifier: no quoting needed). A URL gets name as its path; in
// key=value form a later dbname overrides an earlier one.
func setDatabase(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	return dsn + " dbname=" + name
}
