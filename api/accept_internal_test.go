package api

import (
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2/negotiation"
)

// FuzzAcceptable checks that whatever Accept a client sends, what huma's
// negotiation is given never makes it panic, and names only media types.
func FuzzAcceptable(f *testing.F) {
	for _, s := range []string{"text/html;q,*/*", "application/json; v, */*", "json, text/html",
		"application/json;q=0.5;level=1, */*;q=0.1", ";;,", "a/b;q=1e-1", "*/*;q="} {
		f.Add(s)
	}
	allowed := []string{"application/json", "json"}
	f.Fuzz(func(t *testing.T, header string) {
		a := acceptable(header)
		if got := negotiation.SelectQValueFast(a, allowed); got == "json" {
			t.Errorf("Accept %q (sent as %q) chose %q", header, a, got)
		}
		for el := range strings.SplitSeq(a, ", ") {
			if a != "" && strings.Count(strings.SplitN(el, ";", 2)[0], "/") != 1 {
				t.Errorf("Accept %q rewritten as %q keeps %q", header, a, el)
			}
		}
	})
}
