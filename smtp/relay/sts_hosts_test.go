package relay

import (
	"fmt"
	"net"
	"testing"
)

// TestMTASTSEnforceBeyondFirstHosts: the hosts an enforce policy names
// are looked for among all the MX records, not only among the first
// maxHosts by preference; otherwise a domain whose policy names a
// less-preferred MX would have its mail deferred until it bounces.
func TestMTASTSEnforceBeyondFirstHosts(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	e := newEnv(t, ca.ServerTLS(t, "mx.remote.test"))
	o := newSTSEnv(t, ca, e, enforcePolicy)
	var mxs []*net.MX
	for i := range maxHosts {
		mxs = append(mxs, &net.MX{Host: fmt.Sprintf("old%d.remote.test.", i), Pref: uint16(10 + i)})
	}
	mxs = append(mxs, &net.MX{Host: "mx.remote.test.", Pref: 50})
	o.Resolver = fakeResolver{"remote.test": mxs}
	e.submit("sts far", "bob@remote.test")
	e.start(o)
	if msg := e.waitMsg(); !msg.tls {
		t.Error("delivered without TLS under enforce")
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Errorf("queue not empty")
	}
}
