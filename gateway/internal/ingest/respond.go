package ingest

import (
	"net/http"
	"unicode/utf8"
)

// jsonContentType is shared by every response: net/http copies header values when
// it writes them, and nothing here changes the slice.
var jsonContentType = []string{"application/json"}

// writeError writes {"error":{"code","message"}} with the status and, when set, a
// Retry-After of whole seconds.
func writeError(w http.ResponseWriter, status int, code, message, retryAfter string) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	b := make([]byte, 0, 40+len(code)+len(message))
	b = append(b, `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, message)
	b = append(b, "}}\n"...)
	_, _ = w.Write(b)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
