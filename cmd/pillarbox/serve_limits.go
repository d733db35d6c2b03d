package main

import (
	"fmt"
	"syscall"
)

// fdReserve is what the connection caps leave of the process's file
// descriptors for everything else: SQLite (a writer, 8 readers and a
// checkpointer, each with the database and its WAL open), up to
// fdRelayConns relay connections and their DNS lookups, the listeners,
// certificate files, the log, and the moment a refused connection is
// open. A larger [relay] max_connections adds to it (fdReserveFor).
const fdReserve = 256

// fdRelayConns is the number of relay connections fdReserve counts.
const fdRelayConns = 32

// fdReserveFor is fdReserve with the relay connections cfg allows.
func fdReserveFor(cfg *Config) uint64 {
	return fdReserve + uint64(max(cfg.Relay.MaxConnections-fdRelayConns, 0))
}

// autoMaxConns bounds the automatic cap per listener whatever the
// descriptor limit, since every connection costs memory as well.
const autoMaxConns = 4096

// autoMaxPerIP is the per-address cap when none is configured, as in
// Postfix (smtpd_client_connection_count_limit): mail apps open a few
// IMAP connections per account, and a household or an office behind one
// NAT address has several devices.
const autoMaxPerIP = 50

// connCaps are the connection caps of each listener, and of all of them
// together.
type connCaps struct {
	max, perIP, total int
}

// autoMaxTotal bounds the automatic cap over all listeners, for the
// memory every connection costs.
const autoMaxTotal = 8192

// connectionCaps works out each listener's caps from the config, the
// descriptor limit nofile and the number of listeners, so that all the
// listeners full at once still leave fdReserve descriptors. A process
// out of descriptors can no longer accept on any listener, open its
// database or reach the relay's next hop.
func connectionCaps(cfg *Config, nofile uint64, listeners int) (connCaps, error) {
	if listeners == 0 {
		return connCaps{}, nil
	}
	reserve := fdReserveFor(cfg)
	if nofile < reserve+uint64(listeners) {
		return connCaps{}, fmt.Errorf("the process may open only %d files (RLIMIT_NOFILE), too few for %d listeners and %d other files: raise it (ulimit -n, LimitNOFILE=)",
			nofile, listeners, reserve)
	}
	budget := (nofile - reserve) / uint64(listeners)
	var caps connCaps
	if n := cfg.Limits.MaxConnections; n > 0 {
		if uint64(n) > budget {
			return connCaps{}, fmt.Errorf("limits.max_connections: %d listeners with %d connections each need more file descriptors than the %d the process may open (RLIMIT_NOFILE) less %d for the rest; lower it to %d or raise the limit",
				listeners, n, nofile, reserve, budget)
		}
		caps.max = n
	} else {
		caps.max = int(min(budget, autoMaxConns))
	}
	caps.perIP = cfg.Limits.MaxConnectionsPerIP
	if caps.perIP == 0 {
		caps.perIP = autoMaxPerIP
	}
	caps.perIP = min(caps.perIP, caps.max)
	caps.total = cfg.Limits.MaxConnectionsTotal
	if caps.total == 0 {
		caps.total = int(min(nofile-reserve, autoMaxTotal))
	}
	return caps, nil
}

// openFileLimit returns the process's descriptor limit. Go raises the
// soft limit to the hard one at start, so this is the hard limit.
func openFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("reading RLIMIT_NOFILE: %w", err)
	}
	return rl.Cur, nil
}
