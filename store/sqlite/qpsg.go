package sqlite

// SQLite 3.54, as the driver bundles it, compiles the value bound to a
// LIMIT, and the small-integer-ness of any "column = ?" its planner
// weighs, into the statement, and marks it to be prepared again when
// another value is bound. The driver clears a statement's bindings each
// time it reuses it, which SQLite takes as such a change: every statement
// of the store was parsed and planned again at each run, whatever the
// statement cache held. The query planner stability guarantee turns that
// off, and our queries need no plan chosen for their values.
//
// The driver offers no way to set it on a connection, so it is set by an
// automatic extension, which SQLite runs on every connection the process
// opens after it is registered. Registering the same function again is a
// no-op, so Open does it each time.

/*
typedef struct sqlite3 sqlite3;
extern int sqlite3_auto_extension(void (*)(void));
extern int sqlite3_db_config(sqlite3 *, int, ...);

// SQLITE_DBCONFIG_ENABLE_QPSG in sqlite3.h.
#define PILLARBOX_DBCONFIG_ENABLE_QPSG 1007

// An automatic extension that fails makes the connection's open fail;
// this setting is only about speed, so a library without it still opens.
static int pillarbox_qpsg(sqlite3 *db, char **err, const void *api) {
	(void)err;
	(void)api;
	sqlite3_db_config(db, PILLARBOX_DBCONFIG_ENABLE_QPSG, 1, (int *)0);
	return 0;
}

static int pillarbox_register_qpsg(void) {
	return sqlite3_auto_extension((void (*)(void))pillarbox_qpsg);
}
*/
import "C"

import "fmt"

// enableQPSG makes every SQLite connection opened from now on keep its
// statements' plans whatever values are bound.
func enableQPSG() error {
	if rc := C.pillarbox_register_qpsg(); rc != 0 {
		return fmt.Errorf("store: register the planner setting: sqlite error %d", int(rc))
	}
	return nil
}
