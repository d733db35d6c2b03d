package relay

// crlfLines returns data with every CR or LF that is not part of a CRLF
// replaced by CRLF, and data itself when there is none. SMTP lines end
// with CRLF only (RFC 5321 2.3.8), and the DATA writer dot-stuffs only
// after a LF: a bare CR would go out as it is, so that "\r.\r" in a stored
// message (one that came in before bare CR and LF were refused, or through
// IMAP APPEND) could end the data early at a receiver that accepts CR.CR,
// and what follows would be read as commands (SMTP smuggling).
func crlfLines(data []byte) []byte {
	first := -1
	for i, c := range data {
		if (c == '\r' && (i+1 == len(data) || data[i+1] != '\n')) || (c == '\n' && (i == 0 || data[i-1] != '\r')) {
			first = i
			break
		}
	}
	if first < 0 {
		return data
	}
	out := make([]byte, first, len(data)+len(data)/8+2)
	copy(out, data[:first])
	for i := first; i < len(data); i++ {
		switch c := data[i]; {
		case c == '\r' && i+1 < len(data) && data[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r' || c == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
