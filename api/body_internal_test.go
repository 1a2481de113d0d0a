package api

import (
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/orgd/orgd"
)

func TestTwiceKey(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"email":1,"EMAIL":2}`, "EMAIL"},
		{`{"Password":1,"password":2}`, "password"},
		{`{"password":1,"pasſword":2}`, "pasſword"},   // encoding/json fills Password with either
		{`{"k":1,"\u212a":2}`, "\u212a"},              // the Kelvin sign
		{`{"ss":1,"ß":2,"straße":3,"STRASSE":4}`, ""}, // not one field to encoding/json
		{`{"a":{"b":1},"c":{"b":2}}`, ""},
		{`{"a":{"b":1,"b":2}}`, "b"},
		{`{"a":[{"k":1},{"k":2}],"b":"a"}`, ""},
		{`{"a":[{"k":1,"k":2}]}`, "k"},
		{`{"a":"b","b":"a"}`, ""},
		{`{"a":[],"a":{}}`, "a"},
		{`{"x":[1,"x",{"x":[]}],"y":null,"x":0}`, "x"},
		{`[{"a":1},{"a":1}]`, ""},
		{`{"a":`, ""},
		{`{}`, ""},
	} {
		if got := twiceKey([]byte(tt.json)); got != tt.want {
			t.Errorf("twiceKey(%s) = %q, want %q", tt.json, got, tt.want)
		}
	}
}

// TestWithProgress checks what a stopped import says about its lines: done,
// none, or some that may have been imported (a batch written but not
// settled), and nothing for an organization that is gone.
func TestWithProgress(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		rep    *orgd.ImportReport
		want   string
	}{
		{"refused before it began", 409, nil, "x. Nothing was imported: send every line again."},
		{"nothing done", 409, &orgd.ImportReport{}, "x. Nothing was imported: send every line again."},
		{"some done", 409, &orgd.ImportReport{Through: 1000, Imported: 998},
			"x. Lines 1 to 1000 are done (998 records imported): send the lines from 1001 on."},
		{"a batch unsure", 409, &orgd.ImportReport{Through: 500, Imported: 500, Unsure: 1000},
			"x. Lines 1 to 500 are done (500 records imported); lines 501 to 1000 may have been imported: check them, then send the lines from 1001 on."},
		{"the first batch unsure", 409, &orgd.ImportReport{Unsure: 500},
			"x. Nothing is done for sure; lines 1 to 500 may have been imported: check them, then send the lines from 501 on."},
		{"organization gone", 404, &orgd.ImportReport{Through: 500, Imported: 500}, "x."},
	} {
		err := withProgress(huma.NewError(c.status, "x."), c.rep)
		if m, ok := err.(*huma.ErrorModel); !ok || m.Detail != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
