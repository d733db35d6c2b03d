package main

import (
	"math"
	"strings"
	"testing"
)

func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	limits := func(maxConns, perIP int) *Config {
		c := DefaultConfig()
		c.Limits.MaxConnections, c.Limits.MaxConnectionsPerIP = maxConns, perIP
		return c
	}
	relay := func(maxConns int) *Config {
		c := DefaultConfig()
		c.Relay.MaxConnections = maxConns
		return c
	}
	tests := []struct {
		name      string
		cfg       *Config
		nofile    uint64
		listeners int
		want      connCaps
		err       string // substring of the error; "" for none
	}{
		{name: "automatic, limit shared", cfg: limits(0, 0), nofile: 1024, listeners: 3, want: connCaps{max: 256, perIP: 50, total: 768}},
		{name: "automatic, at most 4096", cfg: limits(0, 0), nofile: 20000, listeners: 3, want: connCaps{max: 4096, perIP: 50, total: 8192}},
		{name: "automatic, unlimited files", cfg: limits(0, 0), nofile: math.MaxUint64, listeners: 5, want: connCaps{max: 4096, perIP: 50, total: 8192}},
		{name: "automatic, per-ip no more than total", cfg: limits(0, 0), nofile: 300, listeners: 5, want: connCaps{max: 8, perIP: 8, total: 44}},
		{name: "automatic, one each", cfg: limits(0, 0), nofile: 261, listeners: 5, want: connCaps{max: 1, perIP: 1, total: 5}},
		{name: "configured", cfg: limits(1000, 5), nofile: 20000, listeners: 5, want: connCaps{max: 1000, perIP: 5, total: 8192}},
		{name: "configured total, automatic per-ip", cfg: limits(10, 0), nofile: 20000, listeners: 5, want: connCaps{max: 10, perIP: 10, total: 8192}},
		{name: "configured per-ip, automatic total", cfg: limits(0, 200), nofile: 20000, listeners: 5, want: connCaps{max: 3948, perIP: 200, total: 8192}},
		{name: "configured exactly fits", cfg: limits(3948, 0), nofile: 20000, listeners: 5, want: connCaps{max: 3948, perIP: 50, total: 8192}},
		{name: "configured over the limit", cfg: limits(3949, 0), nofile: 20000, listeners: 5,
			err: "limits.max_connections: 5 listeners with 3949 connections each need more file descriptors than the 20000"},
		{name: "too few files", cfg: limits(0, 0), nofile: 260, listeners: 5, err: "may open only 260 files (RLIMIT_NOFILE)"},
		{name: "relay connections above 32 come out of the budget", cfg: relay(1032), nofile: 2256, listeners: 5, want: connCaps{max: 200, perIP: 50, total: 1000}},
		{name: "relay connections below 32 leave the reserve", cfg: relay(8), nofile: 1024, listeners: 3, want: connCaps{max: 256, perIP: 50, total: 768}},
		{name: "configured total", cfg: func() *Config { c := limits(0, 0); c.Limits.MaxConnectionsTotal = 100; return c }(), nofile: 20000, listeners: 5,
			want: connCaps{max: 3948, perIP: 50, total: 100}},
		{name: "no listeners", cfg: limits(0, 0), nofile: 100, listeners: 0, want: connCaps{}},
	}
	for _, tt := range tests {
		got, err := connectionCaps(tt.cfg, tt.nofile, tt.listeners)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: connectionCaps = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}
