package mongodb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Field names the server owns: "id" and "_id" in a body are ignored (the id
// comes from the URL or is assigned), and "_org", which scopes every stored
// record to its organization, is refused: ignoring it would lose what the
// client sent without saying so.
const (
	fieldID  = "_id"
	fieldOrg = "_org"
)

func ignoredField(name string) bool { return name == "id" || name == fieldID }

// decodeRecord parses a JSON object into an ordered BSON document and checks
// the record rules: an object, at most 32 levels deep, field names that are
// neither operators nor paths, nothing FerretDB cannot store. Client input
// only ever becomes data here, never a query or update operator.
func decodeRecord(data []byte) (bson.D, error) {
	doc, _, err := decodeRecordID(data)
	return doc, err
}

// decodeRecordID is decodeRecord that also returns the body's top-level "id"
// (nil when absent), which only an import keeps.
func decodeRecordID(data []byte) (bson.D, any, error) {
	if err := orgd.CheckJSONText(data); err != nil {
		return nil, nil, err
	}
	d := &jsonDecoder{dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	tok, err := d.dec.Token()
	if err != nil {
		return nil, nil, malformed(err)
	}
	if tok != json.Delim('{') {
		return nil, nil, invalid("", "must be a JSON object")
	}
	doc, err := d.object(1, "")
	if err != nil {
		return nil, nil, err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, nil, orgd.Errorf(orgd.EMALFORMED, "Malformed JSON: unexpected data after the object.")
	}
	return doc, d.id, nil
}

// jsonDecoder turns JSON tokens into BSON values; null stays null (in a merge
// patch it then means "remove").
type jsonDecoder struct {
	dec *json.Decoder
	id  any // the top-level "id", if any
}

func malformed(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return orgd.Errorf(orgd.EMALFORMED, "Malformed JSON: %v.", err)
}

func invalid(field, msg string) error {
	return &orgd.Error{Code: orgd.EINVALID, Message: "The document breaks a rule.", Fields: []orgd.FieldError{{Field: field, Message: msg}}}
}

func (d *jsonDecoder) object(depth int, path string) (bson.D, error) {
	if depth > orgd.RecordMaxDepth {
		return nil, invalid(path, fmt.Sprintf("nesting deeper than %d levels", orgd.RecordMaxDepth))
	}
	var doc bson.D
	seen := map[string]bool{}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, malformed(err)
		}
		key := tok.(string) // the decoder only yields string keys in objects
		field := join(path, key)
		if msg := checkKey(key); msg != "" {
			return nil, invalid(field, msg)
		}
		if seen[key] {
			return nil, invalid(field, "appears twice")
		}
		seen[key] = true
		v, err := d.value(depth, field, false)
		if err != nil {
			return nil, err
		}
		if depth == 1 && key == fieldOrg {
			return nil, invalid(field, "is reserved: orgd keeps the organization's id under this name; rename the field")
		}
		if depth == 1 && ignoredField(key) {
			if key == "id" {
				d.id = v
			}
			continue
		}
		// Counted as kept: a record as read back carries its "id" besides
		// its fields, and must be writable and importable as it is.
		if len(doc) == orgd.RecordMaxFields {
			return nil, tooManyFields(path)
		}
		doc = append(doc, bson.E{Key: key, Value: v})
	}
	if _, err := d.dec.Token(); err != nil { // '}'
		return nil, malformed(err)
	}
	if doc == nil {
		doc = bson.D{}
	}
	return doc, nil
}

func tooManyFields(path string) error {
	return invalid(path, fmt.Sprintf("has more than %d fields: group them in nested objects, or use an array", orgd.RecordMaxFields))
}

// checkFields refuses an object of a stored record full, full included, with
// more than RecordMaxFields fields: a merge patch can make one that neither
// the record nor the patch had.
func checkFields(full bson.D) error { return checkObject(full, "") }

func checkObject(doc bson.D, path string) error {
	n := 0
	for _, e := range doc {
		if path == "" && (e.Key == fieldID || e.Key == fieldOrg) {
			continue
		}
		n++
		if err := checkValueFields(e.Value, join(path, e.Key)); err != nil {
			return err
		}
	}
	if n > orgd.RecordMaxFields {
		return tooManyFields(path)
	}
	return nil
}

func checkValueFields(v any, path string) error {
	switch v := v.(type) {
	case bson.D:
		return checkObject(v, path)
	case bson.A:
		for i, x := range v {
			if err := checkValueFields(x, path+"."+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *jsonDecoder) value(depth int, field string, inArray bool) (any, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, malformed(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return d.object(depth+1, field)
		}
		if inArray {
			return nil, invalid(field, "arrays directly inside arrays are not supported")
		}
		if depth+1 > orgd.RecordMaxDepth {
			return nil, invalid(field, fmt.Sprintf("nesting deeper than %d levels", orgd.RecordMaxDepth))
		}
		arr := bson.A{}
		for i := 0; d.dec.More(); i++ {
			v, err := d.value(depth+1, field+"."+strconv.Itoa(i), true)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := d.dec.Token(); err != nil { // ']'
			return nil, malformed(err)
		}
		return arr, nil
	case string:
		if strings.IndexByte(t, 0) >= 0 {
			return nil, invalid(field, "strings must not contain a NUL character")
		}
		return t, nil
	case json.Number:
		return number(t, field)
	case nil:
		return nil, nil
	default: // bool
		return t, nil
	}
}

// number keeps integers as 64-bit integers and everything else as doubles.
// An integer past 64 bits is refused, not rounded to the nearest double
// (18446744073709551615 would come back as 1.8446744073709552e+19, another
// number): the client sent an exact value that cannot be kept. One written
// as the shortest digits of a double is that double, though: JavaScript's
// JSON.stringify and Go's encoding/json write a double below 1e21 without an
// exponent (1e20 as 100000000000000000000, 2^64 as 18446744073709552000).
func number(n json.Number, field string) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return i, nil
		}
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && strconv.FormatFloat(f, 'f', -1, 64) == s {
			return f, nil
		}
		return nil, invalid(field, "integer out of the 64-bit range: send it as a string, or with an exponent (1.8e19) for a double")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, invalid(field, "number out of range")
	}
	return f, nil
}

// checkKey says what is wrong with a field name, or "".
func checkKey(k string) string {
	switch {
	case k == "":
		return "field names must not be empty"
	case k[0] == '$':
		return "field names must not start with '$'"
	case strings.IndexByte(k, '.') >= 0:
		return "field names must not contain '.'"
	case strings.IndexByte(k, 0) >= 0:
		return "field names must not contain a NUL character"
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mergePatch applies an RFC 7396 merge patch to target: null removes a
// field, an object merges into an object, anything else replaces.
func mergePatch(target, patch bson.D) bson.D {
	out := append(bson.D{}, target...)
	for _, p := range patch {
		i := indexOf(out, p.Key)
		if p.Value == nil {
			if i >= 0 {
				out = append(out[:i], out[i+1:]...)
			}
			continue
		}
		pv, isDoc := p.Value.(bson.D)
		if isDoc {
			var base bson.D
			if i >= 0 {
				base, _ = out[i].Value.(bson.D)
			}
			p.Value = mergePatch(base, pv)
		}
		if i >= 0 {
			out[i].Value = p.Value
		} else {
			out = append(out, bson.E{Key: p.Key, Value: p.Value})
		}
	}
	return out
}

func indexOf(d bson.D, key string) int {
	for i, e := range d {
		if e.Key == key {
			return i
		}
	}
	return -1
}
