package mongodb

import (
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// renderRecord is a record as stored (_id, _org, then its fields) in the JSON
// the API returns. It refuses a record that, without its id, is over
// RecordMaxBytes that way: its JSON can be longer than what the client sent
// (1e18 comes back as 1e+18, U+2028 is escaped), and whatever is stored must fit in
// an export line that an import takes back.
func renderRecord(full bson.D) ([]byte, error) {
	raw, err := bson.Marshal(full)
	if err != nil {
		return nil, err
	}
	out, err := appendRecord(nil, raw)
	if err != nil {
		return nil, err
	}
	if id, _ := full[0].Value.(string); len(out)-len(`"id":"",`)-len(id) > orgd.RecordMaxBytes {
		return nil, invalid("", "must be at most 1 MiB as JSON, as orgd writes it back (without whitespace, with its id left out)")
	}
	return out, nil
}

// appendRecord renders a stored document as the JSON the API returns: "id"
// first, then the fields in stored order; "_id" and "_org" are not shown.
func appendRecord(b []byte, raw bson.Raw) ([]byte, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, err
	}
	b = append(b, `{"id":`...)
	if v, err := raw.LookupErr(fieldID); err == nil {
		b = appendValue(b, v)
	} else {
		b = append(b, "null"...)
	}
	for _, e := range elems {
		k := e.Key()
		if k == fieldID || k == fieldOrg {
			continue
		}
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, e.Value())
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v bson.RawValue) []byte {
	switch v.Type {
	case bson.TypeString:
		return appendString(b, v.StringValue())
	case bson.TypeInt32:
		return strconv.AppendInt(b, int64(v.Int32()), 10)
	case bson.TypeInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case bson.TypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		if f == 0 && math.Signbit(f) {
			return append(b, "-0.0"...) // "-0" reads back as the integer 0
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case bson.TypeBoolean:
		return strconv.AppendBool(b, v.Boolean())
	case bson.TypeNull, bson.TypeUndefined:
		return append(b, "null"...)
	case bson.TypeEmbeddedDocument:
		elems, _ := v.Document().Elements()
		b = append(b, '{')
		for i, e := range elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e.Key())
			b = append(b, ':')
			b = appendValue(b, e.Value())
		}
		return append(b, '}')
	case bson.TypeArray:
		vals, _ := v.Array().Values()
		b = append(b, '[')
		for i, x := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, x)
		}
		return append(b, ']')
	case bson.TypeObjectID:
		oid := v.ObjectID()
		return appendString(b, hex.EncodeToString(oid[:]))
	case bson.TypeDateTime:
		return appendString(b, v.Time().UTC().Format(time.RFC3339Nano))
	default: // types only other writers store: shown as extended JSON text
		return appendString(b, v.String())
	}
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
