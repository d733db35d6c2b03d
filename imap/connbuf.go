package imap

import (
	"bufio"
	"reflect"
	"unsafe"

	"github.com/emersion/go-imap/v2/imapserver"
)

// connBuffers returns pointers to the buffered reader and writer that
// go-imap's imapserver.Conn reads commands from and writes responses to
// (also after STARTTLS, which resets them in place), or nils if the Conn
// does not have the expected fields. They are unexported; reaching them
// is the only way to see every plaintext byte of a connection, TLS or
// not, which nulGuard needs (see there). TestConnBuffersLayout fails
// loudly when a go-imap upgrade changes the layout.
func connBuffers(c *imapserver.Conn) (**bufio.Reader, **bufio.Writer) {
	if c == nil || !connBuffersSupported() {
		return nil, nil
	}
	v := reflect.ValueOf(c).Elem()
	br := v.FieldByName("br")
	bw := v.FieldByName("bw")
	return (**bufio.Reader)(unsafe.Pointer(br.UnsafeAddr())), (**bufio.Writer)(unsafe.Pointer(bw.UnsafeAddr()))
}

// connBuffersSupported reports whether imapserver.Conn has the fields
// connBuffers reads, with the types it expects.
func connBuffersSupported() bool {
	t := reflect.TypeFor[imapserver.Conn]()
	br, ok1 := t.FieldByName("br")
	bw, ok2 := t.FieldByName("bw")
	return ok1 && ok2 && br.Type == reflect.TypeFor[*bufio.Reader]() && bw.Type == reflect.TypeFor[*bufio.Writer]()
}
