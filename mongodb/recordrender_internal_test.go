package mongodb

import (
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestNegativeZeroRoundTrips renders a record holding the double -0, as
// MongoDB stores it, and reads the JSON back as an import or a write would:
// it is -0 again, not the integer 0.
func TestNegativeZeroRoundTrips(t *testing.T) {
	raw, err := bson.Marshal(bson.D{{Key: "_id", Value: "x"}, {Key: "_org", Value: "o"}, {Key: "z", Value: math.Copysign(0, -1)}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := appendRecord(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := decodeRecord(out)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	for _, e := range doc {
		if e.Key == "z" {
			if f, ok := e.Value.(float64); !ok || f != 0 || !math.Signbit(f) {
				t.Errorf("%s read back as %T %v, want the double -0", out, e.Value, e.Value)
			}
			return
		}
	}
	t.Errorf("%s read back without z: %v", out, doc)
}
