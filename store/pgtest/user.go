package pgtest

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// runAs is the unprivileged user the server runs as when the test runs
// as root (initdb and postgres refuse root); nil when it does not.
type runAs struct {
	uid, gid uint32
}

// serverUser picks the user: postgres, which Debian's package creates,
// else nobody.
func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &runAs{uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and there is no user postgres or nobody to run the server as")
}

// sysProcAttr makes a child run as u (when set) and get SIGQUIT, the
// server's immediate shutdown, when the test binary dies without
// stopping it. The kernel sends it when the thread that started the child
// exits; Go's threads outlive the goroutines they ran, and setting it
// after the change of user (as the runtime does) keeps it set.
func (u *runAs) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if u != nil {
		a.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
	}
	return a
}

// chown gives path to u, so that the server can write there.
func (u *runAs) chown(path string) error {
	if u == nil {
		return nil
	}
	return os.Chown(path, int(u.uid), int(u.gid))
}
