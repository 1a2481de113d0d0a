package mongodb_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestDoubleAsGoAndJavaScriptWriteIt stores doubles as encoding/json and
// JavaScript's JSON.stringify write them, without an exponent below 1e21
// (1e20 as "100000000000000000000", 2^64 as "18446744073709552000"): such a
// double is not refused as an integer out of range. An integer that no
// double is written as still is.
func TestDoubleAsGoAndJavaScriptWriteIt(t *testing.T) {
	f := newFixture(t)
	s := f.store("")
	o := mustCreate(t, s, "Acme", "a@x.test")
	ctx := context.Background()
	for _, v := range []float64{1e20, 1 << 64, -1e19} {
		body, _ := json.Marshal(map[string]float64{"x": v})
		_, out, err := s.CreateRecord(ctx, o, body)
		if err != nil {
			t.Errorf("%s, a double as encoding/json writes it: %v", body, err)
			continue
		}
		var got struct{ X float64 }
		if err := json.Unmarshal(out, &got); err != nil || got.X != v || !strings.Contains(string(out), "e+") {
			t.Errorf("%s stored as %s", body, out)
		}
	}
	for _, body := range []string{`{"x":18446744073709551615}`, `{"x":-9223372036854775809}`, `{"x":100000000000000000001}`} {
		if _, _, err := s.CreateRecord(ctx, o, []byte(body)); err == nil {
			t.Errorf("%s was stored", body)
		}
	}
}
