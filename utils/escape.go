package utils

const upperHex = "0123456789ABCDEF"

// AppendQueryEscaped appends s escaped for a query string exactly as
// teleport v3.0 writes metadata: ASCII letters, digits and "*-._" stay as
// they are, every other byte (a space and '~' included) becomes %XX in
// upper-case hex.
func AppendQueryEscaped(dst, s []byte) []byte {
	for _, c := range s {
		if keptUnescaped(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xf])
		}
	}
	return dst
}

// AppendQueryUnescaped appends the query-unescaped form of s to dst: %XX is
// a byte, in either case of hex, and '+' a space, as other writers of query
// strings escape it. A malformed escape is ErrBadEscape.
func AppendQueryUnescaped(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) {
				return dst, ErrBadEscape
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return dst, ErrBadEscape
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func keptUnescaped(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '*' || c == '-' || c == '_' || c == '.'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
