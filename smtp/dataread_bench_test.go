package smtp

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// BenchmarkReadDotted reads a 1 MB message of 78-octet lines the way
// DATA does: through the one-line-per-read wire into readDotted.
func BenchmarkReadDotted(b *testing.B) {
	msg := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 13500) + ".\r\n"
	b.SetBytes(int64(len(msg)))
	var dst bytes.Buffer
	for b.Loop() {
		src := bufio.NewReader(strings.NewReader(msg))
		lr := &lineReader{src: src}
		lr.content(true)
		br := bufio.NewReader(lr)
		dst.Reset()
		if _, err := readDotted(br, &dst, 25<<20, maxLineLength); err != nil {
			b.Fatal(err)
		}
	}
}
