package api

import "testing"

func TestTwiceKey(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"email":1,"EMAIL":2}`, "EMAIL"},
		{`{"Password":1,"password":2}`, "password"},
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
