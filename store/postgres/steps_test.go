package postgres

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestEachMigration migrates a database to N-1, puts representative rows
// in every table there is, migrates to N, and checks that the rows
// survived, that the data N derives is right, and that the triggers keep
// their totals through a few writes at N.
func TestEachMigration(t *testing.T) {
	for n := 1; n <= latest(t); n++ {
		t.Run(fmt.Sprintf("%04d", n), func(t *testing.T) {
			t.Parallel()
			dsn := pg.DB(t)
			before := openAt(t, dsn, n-1).Pool()
			seed(t, before, n-1)
			old := snapshot(t, before)
			after := openAt(t, dsn, n).Pool()
			compare(t, old, snapshot(t, after), exempt[n])
			if check := derived[n]; check != nil {
				check(t, after)
			}
			if n == 1 {
				seed(t, after, 1) // nothing could be put in before it
			}
			exercise(t, after, n)
			invariants(t, after, n)
		})
	}
}

// seed puts in the rows of a database at version v: an account with an
// INBOX of two messages and a Sent of one, all three sharing a blob that
// a queue item also holds, and a row in every other table of v.
func seed(t *testing.T, p *pgxpool.Pool, v int) {
	if v < 1 {
		return
	}
	exec(t, p, "INSERT INTO counters VALUES ('uidvalidity', 2)")
	acct := id(t, p, "INSERT INTO accounts(address, password_hash, created) VALUES ('alice@example.org', '$2a$10$x', 1700000000) RETURNING id")
	exec(t, p, "INSERT INTO aliases VALUES ('al@example.org', $1)", acct)
	mbox := "INSERT INTO mailboxes(account_id, name, uidvalidity, uidnext, highestmodseq, special_use) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
	if v < 15 {
		mbox = strings.Replace(mbox, "special_use)", "special_use, subscribed)", 1)
		mbox = strings.Replace(mbox, "$6)", "$6, $2 = 'INBOX')", 1)
	}
	inbox := id(t, p, mbox, acct, "INBOX", 1, 4, 5, "")
	sent := id(t, p, mbox, acct, "Sent", 2, 2, 3, `\Sent`)
	blob := id(t, p, `INSERT INTO blobs(size, message_id, sent_date, envelope, structure, data)
		VALUES (120, '<m1@example.org>', 1700000000, '{"Subject":"hi"}', '{}', '\x0001ff'::bytea) RETURNING id`)
	exec(t, p, "INSERT INTO blob_text VALUES ($1, to_tsvector('simple', 'hello world'))", blob)
	msg := "INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size, flags, keywords) VALUES ($1, $2, $3, $4, 1700000001, 120, $5, $6)"
	exec(t, p, msg, inbox, 1, 2, blob, 0, "$Label1 Work")
	exec(t, p, msg, inbox, 3, 4, blob, 1|8, "work Urgent")
	exec(t, p, msg, sent, 1, 2, blob, 1, "")
	item := id(t, p, `INSERT INTO queue(blob_id, account_id, sender, recipient, domain, created, next_attempt)
		VALUES ($1, $2, 'alice@example.org', 'bob@example.net', 'example.net', 1700000000, 1700000060) RETURNING id`, blob, acct)
	exec(t, p, "INSERT INTO queue_attempts(queue_id, at, remote, reply) VALUES ($1, 1700000000, 'mx.example.net', '451 later')", item)
	if v >= 4 {
		dom := id(t, p, "INSERT INTO domains(name, created) VALUES ('example.org', 1700000000) RETURNING id")
		key := "INSERT INTO dkim_keys(domain_id, selector, algorithm, private_key, created) VALUES ($1, 'sel1', 'ed25519-sha256', '\\x01'::bytea, 1700000002)"
		if v >= 5 {
			key = "INSERT INTO dkim_keys(domain_id, selector, algorithm, private_key, created, changed, state) VALUES ($1, 'sel1', 'ed25519-sha256', '\\x01'::bytea, 1700000002, 1700000003, 'pending')"
		}
		exec(t, p, key, dom)
	}
	if v >= 8 {
		exec(t, p, "INSERT INTO mta_sts_policies VALUES ('example.net', 'id1', 'version: STSv1', 1, 2, 3)")
	}
	if v >= 9 {
		exec(t, p, "INSERT INTO sent_copies VALUES ($1, 1, $2, '<m1@example.org>', 'auto', 1700000000000)", sent, acct)
	}
	if v >= 10 {
		exec(t, p, "INSERT INTO history(at, event, blob_id, message_id, address) VALUES (1700000000000, 'received', $1, '<m1@example.org>', 'alice@example.org')", blob)
	}
	if v >= 12 {
		exec(t, p, "INSERT INTO vanished VALUES ($1, 2, 3)", inbox)
	}
	if v >= 13 {
		exec(t, p, "UPDATE accounts SET quota = 1000000")
	}
	if v >= 14 {
		exec(t, p, "INSERT INTO mailbox_keywords VALUES ($1, 'Custom')", sent)
	}
	if v >= 15 {
		exec(t, p, "INSERT INTO subscriptions VALUES ($1, 'Archive')", acct)
	}
	if v >= 17 {
		exec(t, p, "INSERT INTO blob_addresses VALUES ($1, 'alice@example.org', 'bob@example.net', '', '')", blob)
	}
	if v >= 18 {
		exec(t, p, "INSERT INTO blob_headers VALUES ($1, 'Subject: hi')", blob)
	}
	if v >= 19 {
		exec(t, p, "UPDATE messages SET saved = 1700000005 WHERE uid = 3")
	}
}

// snapshot is every table's rows: for each column, its values as text,
// sorted (rows have no order).
type tableRows map[string][]string // column → sorted values

func snapshot(t *testing.T, p *pgxpool.Pool) map[string]tableRows {
	ctx := context.Background()
	rows, err := p.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name <> 'schema_version'`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, column string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	out := map[string]tableRows{}
	for _, c := range cols {
		var values []string
		q := fmt.Sprintf(`SELECT coalesce(array_agg(coalesce(%[1]q::text, 'NULL') ORDER BY %[1]q::text), '{}') FROM %[2]q`, c.column, c.table)
		if err := p.QueryRow(ctx, q).Scan(&values); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if out[c.table] == nil {
			out[c.table] = tableRows{}
		}
		out[c.table][c.column] = values
	}
	return out
}

// compare checks that every column of old still in new holds the same
// values, but those a migration changes on purpose ("table.column").
func compare(t *testing.T, old, new map[string]tableRows, changed []string) {
	t.Helper()
	for table, cols := range old {
		for column, values := range cols {
			now, ok := new[table][column]
			if !ok || slicesContain(changed, table+"."+column) {
				continue
			}
			if !reflect.DeepEqual(values, now) {
				t.Errorf("%s.%s: %q before the migration, %q after", table, column, values, now)
			}
		}
	}
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// exempt lists what each migration changes in existing columns.
var exempt = map[int][]string{
	7: {"queue.created", "queue.next_attempt"},
}

// query1 reads one row of sql into dest.
func query1(t *testing.T, p *pgxpool.Pool, sql string, dest ...any) {
	t.Helper()
	if err := p.QueryRow(context.Background(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// derived checks what a migration computes from the rows already there.
var derived = map[int]func(*testing.T, *pgxpool.Pool){
	2: func(t *testing.T, p *pgxpool.Pool) {
		var got []string
		query1(t, p, `SELECT array_agg(concat_ws(' ', b.name, c.messages, c.unseen, c.deleted, c.size, c.deleted_size) ORDER BY b.name)
			FROM mailbox_counts c JOIN mailboxes b ON b.id = c.mailbox_id`, &got)
		if want := []string{"INBOX 2 1 1 240 120", "Sent 1 0 0 120 0"}; !reflect.DeepEqual(got, want) {
			t.Errorf("counts %q, want %q", got, want)
		}
	},
	5: func(t *testing.T, p *pgxpool.Pool) {
		var changed, created int64
		var state string
		query1(t, p, "SELECT changed, created, state FROM dkim_keys", &changed, &created, &state)
		if changed != created || state != "active" {
			t.Errorf("key changed %d, created %d, state %q", changed, created, state)
		}
		exec(t, p, "UPDATE dkim_keys SET state = 'pending'")
	},
	7: func(t *testing.T, p *pgxpool.Pool) {
		var created, next int64
		query1(t, p, "SELECT created, next_attempt FROM queue", &created, &next)
		if created != 1700000000000 || next != 1700000060000 {
			t.Errorf("queue times %d, %d; want milliseconds", created, next)
		}
	},
	12: func(t *testing.T, p *pgxpool.Pool) {
		var wrong int
		query1(t, p, "SELECT count(*) FROM mailboxes WHERE vanished_floor <> highestmodseq", &wrong)
		if wrong != 0 {
			t.Errorf("%d mailboxes with a floor not at their HIGHESTMODSEQ", wrong)
		}
	},
	13: func(t *testing.T, p *pgxpool.Pool) {
		var usage, quota int64
		query1(t, p, "SELECT usage, quota FROM accounts", &usage, &quota)
		if usage != 360 || quota != 0 {
			t.Errorf("usage %d, quota %d; want 360, 0", usage, quota)
		}
	},
	14: func(t *testing.T, p *pgxpool.Pool) {
		var got []string
		query1(t, p, `SELECT array_agg(b.name || ' ' || k.keyword ORDER BY b.name, lower(k.keyword))
			FROM mailbox_keywords k JOIN mailboxes b ON b.id = k.mailbox_id`, &got)
		if want := []string{"INBOX $Label1", "INBOX Urgent", "INBOX Work"}; !reflect.DeepEqual(got, want) {
			t.Errorf("keywords %q, want %q", got, want)
		}
	},
	15: func(t *testing.T, p *pgxpool.Pool) {
		var got []string
		query1(t, p, "SELECT array_agg(name) FROM subscriptions", &got)
		if !reflect.DeepEqual(got, []string{"INBOX"}) {
			t.Errorf("subscriptions %q, want [INBOX]", got)
		}
	},
}

// exercise writes through the triggers of version v: a message added,
// its flags changed, moved to another folder and removed.
func exercise(t *testing.T, p *pgxpool.Pool, v int) {
	var inbox, sent, blob int64
	query1(t, p, "SELECT id FROM mailboxes WHERE name = 'INBOX'", &inbox)
	query1(t, p, "SELECT id FROM mailboxes WHERE name = 'Sent'", &sent)
	query1(t, p, "SELECT id FROM blobs", &blob)
	exec(t, p, "INSERT INTO messages(mailbox_id, uid, modseq, blob_id, internal_date, size) VALUES ($1, 10, 6, $2, 1700000100, 50)", inbox, blob)
	exec(t, p, "UPDATE messages SET flags = 8 WHERE uid = 10")
	exec(t, p, "UPDATE messages SET flags = 8 | 4 WHERE uid = 10") // \Flagged: no count changes
	exec(t, p, "UPDATE messages SET mailbox_id = $1 WHERE uid = 10", sent)
	invariants(t, p, v)
	exec(t, p, "DELETE FROM messages WHERE uid = 10")
	var blobs int
	query1(t, p, "SELECT count(*) FROM blobs", &blobs)
	if blobs != 1 {
		t.Errorf("%d blobs after removing one of their messages, want 1", blobs)
	}
}

// invariants checks what the triggers keep: the totals of each folder
// (2) and the usage of each account (13) equal to what the messages say.
func invariants(t *testing.T, p *pgxpool.Pool, v int) {
	t.Helper()
	if v >= 2 {
		var wrong int
		query1(t, p, `SELECT count(*) FROM mailboxes b LEFT JOIN mailbox_counts c ON c.mailbox_id = b.id,
			LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE m.flags & 1 = 0) AS u,
				count(*) FILTER (WHERE m.flags & 8 <> 0) AS d, coalesce(sum(m.size), 0) AS s,
				coalesce(sum(m.size) FILTER (WHERE m.flags & 8 <> 0), 0) AS ds
				FROM messages m WHERE m.mailbox_id = b.id) x
			WHERE (c.messages, c.unseen, c.deleted, c.size, c.deleted_size) IS DISTINCT FROM (x.n, x.u, x.d, x.s, x.ds)`, &wrong)
		if wrong != 0 {
			t.Errorf("%d folders whose totals are not their messages'", wrong)
		}
	}
	if v >= 13 {
		var wrong int
		query1(t, p, `SELECT count(*) FROM accounts a WHERE usage <> (SELECT coalesce(sum(m.size), 0)
			FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = a.id)`, &wrong)
		if wrong != 0 {
			t.Errorf("%d accounts whose usage is not their messages'", wrong)
		}
	}
}
