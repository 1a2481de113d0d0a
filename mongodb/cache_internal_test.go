package mongodb

import (
	"reflect"
	"testing"
	"time"
)

// TestCachedDocumentsAreFlat checks that the documents the cache keeps
// decoded hold no slices, maps or pointers: cachedFind hands out copies of
// them, which would otherwise share those with the cache.
func TestCachedDocumentsAreFlat(t *testing.T) {
	for _, v := range []any{orgDoc{}, adminDoc{}, keyDoc{}, revokedDoc{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			f := typ.Field(i)
			switch k := f.Type.Kind(); {
			case f.Type == reflect.TypeFor[time.Time]():
			case k == reflect.String, k == reflect.Bool, k >= reflect.Int && k <= reflect.Float64:
			default:
				t.Errorf("%s.%s is a %s: a copy of a cached %s would share it", typ.Name(), f.Name, f.Type, typ.Name())
			}
		}
	}
}
