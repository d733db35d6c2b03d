package imap

import (
	"os"
	"testing"

	"pillarbox/store/pgtest"
)

// pg is the PostgreSQL server of the tests when they run on that store
// (storetest.Driver).
var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
