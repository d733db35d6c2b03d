package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a PostgreSQL server this package started.
type cluster struct {
	dir    string // temporary directory: data/, the socket, server.log
	cmd    *exec.Cmd
	exited chan error // receives the postmaster's exit, once
}

// startTimeout bounds initdb and the wait for the server to accept
// connections; a loaded CI machine takes a few seconds.
const startTimeout = 60 * time.Second

// settings are the server's, for a throwaway cluster of tests:
//
//   - no TCP at all: the server listens only on its socket in dir;
//   - fsync and full_page_writes off: they only protect against the
//     operating system crashing, which no test can cause, and cost a
//     flush at every commit and CREATE DATABASE. synchronous_commit stays
//     on, so a test that kills the server still finds what was committed
//     (without fsync, a commit only writes to the page cache: cheap);
//   - a small shared_buffers: many test binaries may run at once.
func settings(dir string) []string {
	return []string{
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + dir,
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=200",
		"-c", "logging_collector=off",
	}
}

// startCluster makes a cluster in a new temporary directory and starts
// it. On error nothing is left running or on disk.
func startCluster(bin string) (c *cluster, dsn string, err error) {
	as, err := serverUser()
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, "", err
	}
	c = &cluster{dir: dir}
	defer func() {
		if err != nil {
			c.stop()
			c = nil
		}
	}()
	if err := as.chown(dir); err != nil {
		return c, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.initdb(ctx, bin, as); err != nil {
		return c, "", err
	}
	if err := c.startServer(bin, as); err != nil {
		return c, "", err
	}
	dsn = fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", dir)
	if err := c.waitReady(ctx, dsn); err != nil {
		return c, "", err
	}
	return c, dsn, nil
}

// initdb makes the data directory: trust authentication (only the socket
// in dir, which only this machine reaches), UTF-8 without locale, no
// fsync of the files made.
func (c *cluster) initdb(ctx context.Context, bin string, as *runAs) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", filepath.Join(c.dir, "data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	cmd.Dir = c.dir // the test's own directory may be closed to the server's user
	cmd.SysProcAttr = as.sysProcAttr()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out.Bytes())
	}
	return nil
}

// startServer starts the postmaster, logging to dir/server.log. It is
// started and waited for by a goroutine locked to its thread, so that the
// parent-death signal (see sysProcAttr) comes when the test binary dies,
// never because the thread that started it went away earlier.
func (c *cluster) startServer(bin string, as *runAs) error {
	logFile, err := os.Create(filepath.Join(c.dir, "server.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := append([]string{"-D", filepath.Join(c.dir, "data")}, settings(c.dir)...)
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = as.sysProcAttr()
	c.exited = make(chan error, 1)
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.exited <- c.cmd.Wait()
	}()
	if err := <-started; err != nil {
		c.cmd = nil
		return fmt.Errorf("starting postgres: %w", err)
	}
	return nil
}

// waitReady connects until the server accepts, it exits, or ctx ends.
func (c *cluster) waitReady(ctx context.Context, dsn string) error {
	for {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case exitErr := <-c.exited:
			c.exited <- exitErr // for stop
			return fmt.Errorf("postgres exited at start: %v\n%s", exitErr, c.log())
		case <-ctx.Done():
			return fmt.Errorf("postgres not accepting connections after %v: %v\n%s", startTimeout, err, c.log())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// log returns the end of the server's log, for errors.
func (c *cluster) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop shuts the server down at once (SIGQUIT: nothing in it needs to
// outlive the tests, so no checkpoint) and removes the directory.
func (c *cluster) stop() error {
	var errs []error
	if c.cmd != nil {
		if err := c.cmd.Process.Signal(syscall.SIGQUIT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, err)
		}
		select {
		case <-c.exited:
		case <-time.After(startTimeout):
			c.cmd.Process.Kill()
			errs = append(errs, errors.New("postgres did not stop; killed"))
			<-c.exited
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
