package wire

import (
	"fmt"
	"strings"
	"testing"
)

// idCommand is an ID with n pairs whose values are size octets long.
func idCommand(n, size int) string {
	var b strings.Builder
	b.WriteString("a ID (")
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "\"k%02d%s\" \"%s\"", i, strings.Repeat("x", 28), strings.Repeat("7", size))
	}
	b.WriteString(")\r\n")
	return b.String()
}

// RFC 2971's limits bind senders; a server refusing more only breaks
// clients. imaptest's id test sends exactly its maxima (30 pairs, values
// of 1024 octets), which must pass too.
func TestIDLenient(t *testing.T) {
	t.Parallel()
	// The Reader's bounds as a session sets them before login.
	opts := Options{}
	for _, tc := range []struct {
		n, size int
		ok      bool
	}{
		{30, 1024, true},
		{30, 1100, true},
		{maxIDParams, 10, true},
		{maxIDParams + 1, 10, false},
		{1, 60 << 10, true},
		{1, maxIDValue + 1, false}, // within a raised line limit, over the value bound
	} {
		o := opts
		o.MaxLineLength = 128 << 10
		cmd, err := newTestReader(idCommand(tc.n, tc.size), o).ReadCommand()
		if tc.ok {
			if err != nil {
				t.Errorf("%d pairs of %d octets: %v", tc.n, tc.size, err)
				continue
			}
			id := cmd.(*ID)
			if len(id.Params) != tc.n || len(id.Params[tc.n-1].Value) != tc.size {
				t.Errorf("%d pairs of %d octets: got %d pairs", tc.n, tc.size, len(id.Params))
			}
			continue
		}
		if err == nil {
			t.Errorf("%d pairs of %d octets accepted", tc.n, tc.size)
		} else if e, ok := err.(*Error); !ok || e.Fatal || e.NO {
			t.Errorf("%d pairs of %d octets: %v, want a BAD", tc.n, tc.size, err)
		}
	}
}
