package smtp

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// BenchmarkReadDotted reads a 1 MB message of 78-octet lines into
// readDotted: "direct" is how DATA reads it (from below go-smtp's reader,
// which holds nothing then), "lineReader" the fallback through the
// one-line-per-read wire when go-smtp's reader holds input already.
func BenchmarkReadDotted(b *testing.B) {
	msg := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 13500) + ".\r\n"
	for _, viaLines := range []bool{false, true} {
		name := "direct"
		if viaLines {
			name = "lineReader"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			var dst bytes.Buffer
			for b.Loop() {
				br := bufio.NewReader(strings.NewReader(msg))
				if viaLines {
					lr := &lineReader{src: br}
					lr.content(true)
					br = bufio.NewReader(lr)
				}
				dst.Reset()
				if _, err := readDotted(br, &dst, 25<<20, maxLineLength); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
