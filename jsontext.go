package orgd

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// CheckJSONText refuses a JSON text that encoding/json would change without
// a word: invalid UTF-8, or a \u escape of half a UTF-16 surrogate pair, both
// read as U+FFFD. What was sent would be lost, and two different names,
// emails or passwords could read as one.
func CheckJSONText(data []byte) error {
	if !utf8.Valid(data) {
		return Errorf(EMALFORMED, "Malformed JSON: the text is not valid UTF-8 (RFC 8259).")
	}
	if i := loneSurrogate(data); i >= 0 {
		return Errorf(EMALFORMED, "Malformed JSON: the escape %s at byte %d is half of a UTF-16 surrogate pair, not a character.", data[i:i+6], i+1)
	}
	return nil
}

// loneSurrogate returns the offset of the first \u escape of a UTF-16
// surrogate that is not part of a pair, or -1. encoding/json would read it
// as U+FFFD. A backslash only begins an escape inside a string,
// and an invalid document is refused by the decoder anyway.
func loneSurrogate(data []byte) int {
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\\')
		if j < 0 {
			return -1
		}
		i += j
		r, ok := escapedRune(data, i)
		switch {
		case !ok:
			i += 2 // any other escape: \\, \", \n...
		case 0xDC00 <= r && r <= 0xDFFF:
			return i
		case 0xD800 <= r && r <= 0xDBFF:
			if low, ok := escapedRune(data, i+6); !ok || low < 0xDC00 || low > 0xDFFF {
				return i
			}
			i += 12
		default:
			i += 6
		}
	}
	return -1
}

// escapedRune reads a \uXXXX escape at data[i:].
func escapedRune(data []byte, i int) (rune, bool) {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 16)
	return rune(n), err == nil
}
