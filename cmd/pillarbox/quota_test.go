package main

import (
	"bytes"
	"testing"

	"pillarbox/mailbox"
)

func TestParseQuotaSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"none", 0, true}, {"NONE", 0, true}, {"unlimited", 0, true},
		{"1000", 1000, true}, {"4K", 4 << 10, true}, {"500M", 500 << 20, true}, {"500m", 500 << 20, true},
		{"2G", 2 << 30, true}, {"2GB", 2 << 30, true}, {"2GiB", 2 << 30, true}, {"1T", 1 << 40, true},
		{"", 0, false}, {"-1", 0, false}, {"+5", 0, false}, {"M", 0, false}, {"1.5G", 0, false},
		{"5X", 0, false}, {"9999999999T", 0, false}, {"1 G", 0, false},
	} {
		got, err := parseQuotaSize(tc.in)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("parseQuotaSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestPrintQuota(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q    mailbox.Quota
		want string
	}{
		{mailbox.Quota{Usage: 512}, "a@x.test: 512 bytes used (512 B), no quota\n"},
		{mailbox.Quota{Usage: 3 << 19, Limit: 500 << 20}, "a@x.test: 1572864 bytes used (1.5 MiB) of 524288000 (500.0 MiB), 0%\n"},
		{mailbox.Quota{Usage: 3000, Limit: 4096}, "a@x.test: 3000 bytes used (2.9 KiB) of 4096 (4.0 KiB), 73%\n"},
	} {
		var b bytes.Buffer
		printQuota(&b, "a@x.test", tc.q)
		if b.String() != tc.want {
			t.Errorf("printQuota(%+v) = %q, want %q", tc.q, b.String(), tc.want)
		}
	}
}
