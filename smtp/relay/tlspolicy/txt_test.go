package tlspolicy

import (
	"errors"
	"strings"
	"testing"
)

func TestPickRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		txts   []string
		wantID string // empty: want ErrNoRecord
	}{
		{"RFC 8461 3.1 example", []string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z"},
		{"no trailing separator", []string{"v=STSv1; id=abc123"}, "abc123"},
		{"no spaces", []string{"v=STSv1;id=1"}, "1"},
		{"spaces and tabs around separators", []string{"v=STSv1 ;\tid=1 ; "}, "1"},
		{"id of 32", []string{"v=STSv1; id=" + strings.Repeat("a", 32)}, strings.Repeat("a", 32)},
		{"extension before id", []string{"v=STSv1; ext_1.x-y=some!value; id=7"}, "7"},
		{"other records discarded", []string{"v=spf1 -all", "v=STSv1; id=9", "hello"}, "9"},
		{"v=STSv10 is not STSv1", []string{"v=STSv10; id=1", "v=STSv1; id=2"}, "2"},

		{"none", nil, ""},
		{"only other records", []string{"v=spf1 -all", "v=DMARC1; p=none"}, ""},
		{"two STSv1 records", []string{"v=STSv1; id=1", "v=STSv1; id=2"}, ""},
		{"two identical STSv1 records", []string{"v=STSv1; id=1", "v=STSv1; id=1"}, ""},
		{"version not first", []string{"id=1; v=STSv1"}, ""},
		{"leading space", []string{" v=STSv1; id=1"}, ""},
		{"version only", []string{"v=STSv1"}, ""},
		{"version and separator only", []string{"v=STSv1;"}, ""},
		{"no id", []string{"v=STSv1; foo=bar"}, ""},
		{"empty id", []string{"v=STSv1; id="}, ""},
		{"id of 33", []string{"v=STSv1; id=" + strings.Repeat("a", 33)}, ""},
		{"id with a hyphen", []string{"v=STSv1; id=2016-08-31"}, ""},
		{"id twice", []string{"v=STSv1; id=1; id=2"}, ""},
		{"ID in upper case is no id", []string{"v=STSv1; ID=1"}, ""},
		{"space before =", []string{"v=STSv1; id =1"}, ""},
		{"empty field", []string{"v=STSv1;; id=1"}, ""},
		{"no separator after version", []string{"v=STSv1 id=1"}, ""},
		{"extension without value", []string{"v=STSv1; id=1; x="}, ""},
		{"extension value with =", []string{"v=STSv1; id=1; x=a=b"}, ""},
		{"extension value with a space", []string{"v=STSv1; id=1; x=a b"}, ""},
		{"extension name with ?", []string{"v=STSv1; id=1; x?=a"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := pickRecord(tc.txts)
			if tc.wantID == "" {
				if !errors.Is(err, ErrNoRecord) {
					t.Errorf("pickRecord = %q, %v; want ErrNoRecord", id, err)
				}
				return
			}
			if err != nil || id != tc.wantID {
				t.Errorf("pickRecord = %q, %v; want %q", id, err, tc.wantID)
			}
		})
	}
}

// FuzzParseRecord checks that parseRecord never panics and that an id it
// returns is one RFC 8461 3.1 allows and appears in the record.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{"v=STSv1; id=20160831085700Z;", "v=STSv1;id=1;x=y", "v=STSv1 ; id=a ;", "v=STSv1;;", "v=STSv1; id=1; id=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseRecord(s)
		if err != nil {
			if !errors.Is(err, ErrNoRecord) {
				t.Fatalf("error %v does not wrap ErrNoRecord", err)
			}
			return
		}
		if !validID(id) || !strings.Contains(s, "id="+id) || !isSTSRecord(s) {
			t.Fatalf("parseRecord(%q) = %q", s, id)
		}
	})
}
