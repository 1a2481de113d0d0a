package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// tenant is an organization with a logged-in admin.
type tenant struct {
	name, token string
}

func (e *env) tenant(name string) tenant {
	e.t.Helper()
	e.create(org{name, name + "@x.test", "correct horse"}).mustStatus(e.t, 201)
	return tenant{name: name, token: e.login(name+"@x.test", "correct horse")}
}

// record creates a record and returns its id.
func (e *env) record(tn tenant, body string) string {
	e.t.Helper()
	r := e.call("POST", "/org/records", tn.token, body).mustStatus(e.t, 201)
	id, _ := r.JSON["id"].(string)
	if id == "" {
		e.t.Fatalf("no id in %s", r.Raw)
	}
	return id
}

// rawDocs returns every document of a tenant collection as extended JSON, in _id order.
func (e *env) rawDocs(coll string) []string {
	e.t.Helper()
	cur, err := e.tenantColl(coll).Find(context.Background(), bson.D{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for cur.Next(context.Background()) {
		out = append(out, cur.Current.String())
	}
	slices.Sort(out)
	return out
}

func TestRecordsCRUD(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	r := e.call("POST", "/org/records", a.token, `{"name":"widget","id":"mine","_id":"x","n":3,"tags":["a","b"],"nested":{"y":null,"z":1.5}}`).mustStatus(t, 201)
	id := r.JSON["id"].(string)
	if len(id) != 26 || r.JSON["_id"] != nil || r.JSON["name"] != "widget" {
		t.Fatalf("create: %s", r.Raw)
	}
	if loc := r.Header.Get("Location"); loc != "/org/records/"+id {
		t.Errorf("create: Location %q", loc)
	}
	if want := `{"id":"` + id + `","name":"widget","n":3,"tags":["a","b"],"nested":{"y":null,"z":1.5}}`; r.Raw != want {
		t.Errorf("create answered\n%s\nwant\n%s", r.Raw, want)
	}
	if got := e.call("GET", "/org/records/"+id, a.token, nil).mustStatus(t, 200).Raw; got != r.Raw {
		t.Errorf("get: %s", got)
	}
	r = e.call("PATCH", "/org/records/"+id, a.token, `{"n":null,"nested":{"z":2,"w":"new"},"extra":true}`).mustStatus(t, 200)
	if want := `{"id":"` + id + `","name":"widget","tags":["a","b"],"nested":{"y":null,"z":2,"w":"new"},"extra":true}`; r.Raw != want {
		t.Errorf("patch answered\n%s\nwant\n%s", r.Raw, want)
	}
	r = e.call("PUT", "/org/records/"+id, a.token, `{"only":"this","id":"ignored"}`).mustStatus(t, 200)
	if want := `{"id":"` + id + `","only":"this"}`; r.Raw != want {
		t.Errorf("put answered %s", r.Raw)
	}
	if docs := e.rawDocs("org_acme"); len(docs) != 1 || !strings.Contains(docs[0], `"only": "this"`) {
		t.Errorf("stored: %v", docs)
	}
	e.call("DELETE", "/org/records/"+id, a.token, nil).mustStatus(t, 204)
	e.call("GET", "/org/records/"+id, a.token, nil).isProblem(t, 404)
	e.call("DELETE", "/org/records/"+id, a.token, nil).isProblem(t, 404)
	e.call("PUT", "/org/records/"+id, a.token, `{"a":1}`).isProblem(t, 404)
	if docs := e.rawDocs("org_acme"); len(docs) != 0 {
		t.Errorf("after delete: %v", docs)
	}
}

func TestRecordRules(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	deep := func(n int) string { return strings.Repeat(`{"a":`, n-1) + `1` + strings.Repeat(`}`, n-1) }
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"nested 32 deep", "{" + `"x":` + deep(32) + "}", 201, ""},
		{"nested 33 deep", "{" + `"x":` + deep(33) + "}", 422, "body.x.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"},
		{"operator field", `{"$where":"sleep(1000)"}`, 422, "body.$where"},
		{"nested operator", `{"price":{"$gt":""}}`, 422, "body.price.$gt"},
		{"dotted field", `{"a.b":1}`, 422, "body.a.b"},
		{"NUL in a field name", `{"a\u0000b":1}`, 422, ""},
		{"NUL in a string", `{"a":"x\u0000y"}`, 422, "body.a"},
		{"array in an array", `{"m":[[1,2]]}`, 422, "body.m.0"},
		{"empty field name", `{"":1}`, 422, ""},
		{"reserved field", `{"_org":"x","a":1}`, 422, "body._org"},
		{"duplicate field", `{"a":1,"a":2}`, 422, "body.a"},
		{"top-level array", `[{"a":1}]`, 422, "body"},
		{"scalar", `"text"`, 422, "body"},
		{"malformed", `{"a":`, 400, ""},
		{"invalid UTF-8 in a string", "{\"name\":\"caf\xe9\"}", 400, ""},
		{"invalid UTF-8 in field names", "{\"k\xff\":1,\"k\xfe\":2}", 400, ""},
		{"trailing data", `{"a":1} {"b":2}`, 400, ""},
		{"huge number", `{"a":1e999}`, 422, "body.a"},
		{"integer past 64 bits", `{"a":18446744073709551615}`, 422, "body.a"},
		{"integer just past 64 bits", `{"a":-9223372036854775809}`, 422, "body.a"},
		{"record over 1 MiB", `{"a":"` + strings.Repeat("x", 1<<20) + `"}`, 422, "body"},
		{"body at the limit", `{"a":"` + strings.Repeat("x", 1<<20+64-8) + `"}`, 422, "body"},
		{"body a byte over the limit", `{"a":"` + strings.Repeat("x", 1<<20+64-7) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("POST", "/org/records", a.token, tt.body)
			if tt.status == 201 {
				r.mustStatus(t, 201)
				return
			}
			r.isProblem(t, tt.status)
			if tt.field != "" && !hasErrorAt(r, tt.field) {
				t.Errorf("errors do not name %s: %s", tt.field, r.Raw)
			}
		})
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/org/records", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "text/plain")
	e.do(req).isProblem(t, 415)
	e.call("GET", "/org/records?limit=0", a.token, nil).isProblem(t, 422)
	e.call("GET", "/org/records?limit=1001", a.token, nil).isProblem(t, 422)
	e.call("GET", "/org/records?where.$gt=1", a.token, nil).isProblem(t, 422)
	e.call("GET", "/org/records?where.a.b=1", a.token, nil).isProblem(t, 422)
	for q, msg := range map[string]string{"where.id=x": "GET /org/records/{id}", "where._org=x": "orgd's own field"} {
		r := e.call("GET", "/org/records?"+q, a.token, nil)
		r.isProblem(t, 422)
		if !strings.Contains(r.Raw, msg) {
			t.Errorf("?%s: %s, want it to say %q", q, r.Raw, msg)
		}
	}
	if n := len(e.rawDocs("org_acme")); n != 1 {
		t.Errorf("%d documents stored, want only the valid one", n)
	}
	// The ends of the 64-bit range stay integers; past them, a number
	// written with an exponent is a double.
	r := e.call("POST", "/org/records", a.token, `{"a":9223372036854775807,"b":-9223372036854775808,"c":1.8446744073709552e19}`).mustStatus(t, 201)
	id := r.JSON["id"].(string)
	if got := e.call("GET", "/org/records/"+id, a.token, nil).mustStatus(t, 200).Raw; got != `{"id":"`+id+`","a":9223372036854775807,"b":-9223372036854775808,"c":1.8446744073709552e+19}` {
		t.Errorf("read back %s", got)
	}
}

// TestInjectionIsData checks that operator-looking input is stored or
// matched as plain data, never executed, by looking at the database.
func TestInjectionIsData(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	e.record(a, `{"name":"plain"}`)
	e.record(a, `{"name":"{\"$gt\":\"\"}"}`)
	e.record(a, `{"name":"'; db.dropDatabase(); '"}`)
	for value, want := range map[string]int{`{"$gt":""}`: 1, `{"$ne":null}`: 0, `'; db.dropDatabase(); '`: 1, "plain": 1} {
		r := e.call("GET", "/org/records?where.name="+url.QueryEscape(value), a.token, nil).mustStatus(t, 200)
		if got := len(r.JSON["records"].([]any)); got != want {
			t.Errorf("filter name=%s matched %d, want %d", value, got, want)
		}
	}
	for _, id := range []string{`{"$gt":""}`, `{"$ne":null}`, `.*`} {
		e.call("GET", "/org/records/"+url.PathEscape(id), a.token, nil).isProblem(t, 404)
		e.call("DELETE", "/org/records/"+url.PathEscape(id), a.token, nil).isProblem(t, 404)
		e.call("PUT", "/org/records/"+url.PathEscape(id), a.token, `{"pwned":true}`).isProblem(t, 404)
	}
	e.call("GET", "/org/records?after="+url.QueryEscape(`{"$gt":""}`), a.token, nil).isProblem(t, 422) // not a record id
	docs := e.rawDocs("org_acme")
	if len(docs) != 3 || slices.ContainsFunc(docs, func(d string) bool { return strings.Contains(d, "pwned") }) {
		t.Errorf("database content after injection attempts: %v", docs)
	}
}

// TestRecordFilters checks what a where.<field> filter value matches: the
// string itself and the JSON number, boolean or null it spells, nothing
// else; and that a query string that cannot be parsed is refused rather
// than read as no filter.
func TestRecordFilters(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	for _, r := range []string{`{"x":1}`, `{"x":"NaN"}`, `{"x":16}`, `{"n":3}`, `{"n":"+3"}`, `{"q":null}`, `{"q":"x"}`, `{"name":"a;b"}`, `{"tags":["red","blue"]}`} {
		e.record(a, r)
	}
	for _, c := range []struct {
		query string
		want  int // records matched; -1: refused with a 422
	}{
		{"where.x=1", 1},
		{"where.x=1.0", 1},
		{"where.x=NaN", 1}, // the string, not the float: FerretDB drops the connection on a NaN
		{"where.x=Infinity", 0},
		{"where.x=0x10", 0},
		{"where.n=3", 1},
		{"where.n=%2B3", 1}, // "+3" is not a JSON number: only the string matches
		{"where.q=null", 1}, // not the records without q
		{"where.name=a%3Bb", 1},
		{"where.tags=red", 1}, // an element of an array, as in MongoDB
		{"where.tags=re", 0},
		{"where.name=a;b", -1},
		{"where.name=100%", -1},
		{"where.name=%zz", -1},
	} {
		r := e.call("GET", "/org/records?"+c.query, a.token, nil)
		if c.want < 0 {
			r.isProblem(t, 422)
			continue
		}
		r.mustStatus(t, 200)
		if got := len(r.JSON["records"].([]any)); got != c.want {
			t.Errorf("%s: %d records, want %d: %s", c.query, got, c.want, r.Raw)
		}
	}
}

func TestRecordsPagination(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	var ids []string
	for i := range 25 {
		ids = append(ids, e.record(a, fmt.Sprintf(`{"i":%d,"status":"%s"}`, i, []string{"odd", "even"}[(i+1)%2])))
	}
	// A cursor that is not a record id is refused, rather than read as the
	// end of the records (or their start).
	// The largest id is 7ZZ…Z: a first digit above 7 overflows 128 bits.
	for _, bad := range []string{"zzz", "0", ids[0] + "x", strings.Repeat("I", 26), "8" + strings.Repeat("Z", 25), strings.Repeat("z", 26)} {
		e.call("GET", "/org/records?after="+bad, a.token, nil).isProblem(t, 422)
	}
	// Page through while records are added and deleted: every record that
	// exists throughout is seen exactly once, in id order.
	var seen []string
	after := ""
	for page := 0; ; page++ {
		r := e.call("GET", "/org/records?limit=7&after="+after, a.token, nil).mustStatus(t, 200)
		for _, x := range r.JSON["records"].([]any) {
			seen = append(seen, x.(map[string]any)["id"].(string))
		}
		if page == 1 {
			e.record(a, `{"added":"during"}`)
			e.call("DELETE", "/org/records/"+ids[24], a.token, nil).mustStatus(t, 204)
		}
		next, _ := r.JSON["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if !slices.IsSorted(seen) {
		t.Error("records are not in id order")
	}
	for _, id := range ids[:24] {
		if n := countOf(seen, id); n != 1 {
			t.Errorf("record %s seen %d times", id, n)
		}
	}
	r := e.call("GET", "/org/records?where.status=even&limit=1000", a.token, nil).mustStatus(t, 200)
	if got := len(r.JSON["records"].([]any)); got != 12 {
		t.Errorf("where.status=even: %d records, want 12", got)
	}
	r = e.call("GET", "/org/records?where.i=3", a.token, nil).mustStatus(t, 200)
	if got := len(r.JSON["records"].([]any)); got != 1 {
		t.Errorf("where.i=3 (a number): %d records, want 1", got)
	}
	if r := e.call("GET", "/org/records", a.token, nil).mustStatus(t, 200); len(r.JSON["records"].([]any)) != 25 || r.JSON["next"] != nil {
		t.Errorf("default page: %d records, next %v", len(r.JSON["records"].([]any)), r.JSON["next"])
	}
}

func countOf(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

func TestExportImportRoundTrip(t *testing.T) {
	e := newEnv(t)
	a, b := e.tenant("acme"), e.tenant("beta")
	for i := range 1200 {
		e.record(a, fmt.Sprintf(`{"i":%d,"s":"line \"%d\"\n","f":%d.5,"o":{"k":[1,"two",null]}}`, i, i, i))
	}
	export := e.call("GET", "/org/export", a.token, nil).mustStatus(t, 200)
	if ct := export.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("export Content-Type %q", ct)
	}
	if n := strings.Count(export.Raw, "\n"); n != 1200 {
		t.Fatalf("export has %d lines, want 1200", n)
	}
	r := e.importLines(b.token, export.Raw).mustStatus(t, 200)
	if r.JSON["imported"] != float64(1200) || r.JSON["rejected_total"] != float64(0) {
		t.Fatalf("import: %s", r.Raw)
	}
	again := e.call("GET", "/org/export", b.token, nil).mustStatus(t, 200)
	if !sameLines(export.Raw, again.Raw) {
		t.Error("import then export did not give back the same documents")
	}
	// Importing the same lines again rejects each, by line number, as a duplicate.
	r = e.importLines(b.token, strings.Join(strings.Split(export.Raw, "\n")[:3], "\n")).mustStatus(t, 200)
	if r.JSON["imported"] != float64(0) || r.JSON["rejected_total"] != float64(3) {
		t.Errorf("re-import: %s", r.Raw)
	}
}

// importLines posts body to /org/import as NDJSON.
func (e *env) importLines(token, body string) response {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/org/import", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	return e.do(req)
}

// TestRecordSize checks the one size rule of every write: a record is at
// most 1 MiB as orgd writes it back, so that anything stored exports to a
// line that an import takes back.
func TestRecordSize(t *testing.T) {
	e := newEnv(t)
	a, b := e.tenant("acme"), e.tenant("beta")
	most := `{"a":"` + strings.Repeat("x", 1<<20-8) + `"}` // exactly 1 MiB
	id := e.call("POST", "/org/records", a.token, most).mustStatus(t, 201).JSON["id"].(string)
	// Read back, it carries its id, which a write ignores: it goes back as it is.
	back := e.call("GET", "/org/records/"+id, a.token, nil).mustStatus(t, 200).Raw
	if len(back) <= 1<<20 {
		t.Fatalf("a 1 MiB record read back is %d bytes", len(back))
	}
	e.call("PUT", "/org/records/"+id, a.token, back).mustStatus(t, 200)
	export := e.call("GET", "/org/export", a.token, nil).mustStatus(t, 200).Raw
	if r := e.importLines(b.token, export).mustStatus(t, 200); r.JSON["imported"] != float64(1) {
		t.Errorf("importing the export of a 1 MiB record: %s", r.Raw)
	}
	e.call("PATCH", "/org/records/"+id, a.token, `{"b":1}`).isProblem(t, 422)

	// 300 KB of JSON is 2 MB of BSON: its size is the JSON's.
	numbers := `{"a":[` + strings.Repeat("0,", 150000) + `0]}`
	id = e.record(a, numbers)
	e.call("PUT", "/org/records/"+id, a.token, numbers).mustStatus(t, 200)
	e.call("PATCH", "/org/records/"+id, a.token, `{"b":1}`).mustStatus(t, 200)

	// Under 1 MiB as sent, over it as written back: 1e18 comes back as 1e+18.
	grows := `{"a":[` + strings.Repeat("1e18,", 200000) + `1]}`
	e.call("POST", "/org/records", a.token, grows).isProblem(t, 422)
	e.call("PUT", "/org/records/"+id, a.token, grows).isProblem(t, 422)
	if r := e.importLines(a.token, grows).mustStatus(t, 200); r.JSON["imported"] != float64(0) {
		t.Errorf("import of a line that grows over 1 MiB: %s", r.Raw)
	}
}

// TestImportLineForms checks the forms of lines an import reads as editors
// and other tools write them: a byte order mark, CRLF line ends, ids in
// lower case.
func TestImportLineForms(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	if r := e.importLines(a.token, "\xef\xbb\xbf{\"a\":1}\n{\"b\":2}\n").mustStatus(t, 200); r.JSON["imported"] != float64(2) {
		t.Errorf("with a byte order mark: %s", r.Raw)
	}
	most := `{"a":"` + strings.Repeat("x", 1<<20-8) + `"}`
	if r := e.importLines(a.token, most+"\r\n{\"c\":3}\r\n").mustStatus(t, 200); r.JSON["imported"] != float64(2) {
		t.Errorf("with CRLF: %s", r.Raw[:min(len(r.Raw), 300)])
	}
	const lower, upper = "01arz3ndektsv4rrffq69g5fav", "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	r := e.importLines(a.token, `{"id":"`+lower+`","x":1}`+"\n"+`{"id":"`+upper+`","x":2}`).mustStatus(t, 200)
	if r.JSON["imported"] != float64(1) || r.JSON["rejected_total"] != float64(1) {
		t.Errorf("one id in two cases: %s", r.Raw)
	}
	if got := e.call("GET", "/org/records/"+upper, a.token, nil).mustStatus(t, 200); got.JSON["x"] != float64(1) {
		t.Errorf("record imported under a lower-case id: %s", got.Raw)
	}
	// A null id is no id, as a hand-written file may say: a new one is given.
	if r := e.importLines(a.token, `{"id":null,"y":1}`).mustStatus(t, 200); r.JSON["imported"] != float64(1) {
		t.Errorf("a line with a null id: %s", r.Raw)
	}
}

func sameLines(a, b string) bool {
	x, y := strings.Split(strings.TrimSpace(a), "\n"), strings.Split(strings.TrimSpace(b), "\n")
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func TestImportReportsBadLines(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	body := strings.Join([]string{
		`{"ok":1}`,
		`not json`,
		`{"ok":2}`,
		``,
		`{"$bad":1}`,
		`[1,2]`,
		`{"id":"not-an-id","x":1}`,
		`{"ok":3}`,
		`{"big":"` + strings.Repeat("x", 1<<20) + `"}`,
		`{"ok":4}`,
	}, "\n")
	r := e.importLines(a.token, body).mustStatus(t, 200)
	if r.JSON["imported"] != float64(4) || r.JSON["rejected_total"] != float64(5) {
		t.Fatalf("import report: %s", r.Raw)
	}
	var lines []float64
	for _, x := range r.JSON["rejected"].([]any) {
		m := x.(map[string]any)
		lines = append(lines, m["line"].(float64))
		if m["error"] == "" {
			t.Errorf("line %v rejected without a reason", m["line"])
		}
	}
	if !slices.Equal(lines, []float64{2, 5, 6, 7, 9}) {
		t.Errorf("rejected lines %v, want [2 5 6 7 9]", lines)
	}
	if n := len(e.rawDocs("org_acme")); n != 4 {
		t.Errorf("%d documents stored, want 4", n)
	}
}

// TestRecordsFollowRenameAndDelete checks that a rename keeps every record
// reachable with the same token, and that a delete removes them.
func TestRecordsFollowRenameAndDelete(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	var ids []string
	for i := range 30 {
		ids = append(ids, e.record(a, fmt.Sprintf(`{"i":%d}`, i)))
	}
	before := e.call("GET", "/org/export", a.token, nil).mustStatus(t, 200).Raw
	e.call("PUT", "/org/update", a.token, map[string]string{"organization_name": "wile"}).mustStatus(t, 200)
	if after := e.call("GET", "/org/export", a.token, nil).mustStatus(t, 200).Raw; !sameLines(before, after) {
		t.Error("records changed across the rename")
	}
	for _, id := range ids {
		e.call("GET", "/org/records/"+id, a.token, nil).mustStatus(t, 200)
	}
	if n := len(e.rawDocs("org_wile")); n != 30 {
		t.Errorf("org_wile holds %d documents, want 30", n)
	}
	e.call("DELETE", "/org/delete?organization_name=wile", a.token, nil).mustStatus(t, 204)
	if n := len(e.rawDocs("org_wile")); n != 0 {
		t.Errorf("after delete, %d documents survive", n)
	}
	e.call("GET", "/org/records/"+ids[0], a.token, nil).isProblem(t, 401)
	e.call("GET", "/org/export", a.token, nil).isProblem(t, 401)
}

// TestWritesRacingRenames writes records while the organization is renamed
// again and again: every acknowledged record must be there afterwards, in
// the organization's collection, and nothing may be left behind elsewhere.
func TestWritesRacingRenames(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	stop := make(chan struct{})
	acked := make(chan []string)
	go func() {
		var ids []string
		for i := 0; ; i++ {
			select {
			case <-stop:
				acked <- ids
				return
			default:
			}
			r := e.call("POST", "/org/records", a.token, fmt.Sprintf(`{"i":%d}`, i))
			if r.Status == 201 {
				ids = append(ids, r.JSON["id"].(string))
			} else if r.Status != 409 && r.Status != 503 {
				t.Errorf("create during renames: %d %s", r.Status, r.Raw)
			}
		}
	}()
	for i := range 8 {
		e.call("PUT", "/org/update", a.token, map[string]string{"organization_name": fmt.Sprintf("name%d", i)}).mustStatus(t, 200)
	}
	close(stop)
	ids := <-acked
	if len(ids) == 0 {
		t.Fatal("no record was written during the renames")
	}
	for _, id := range ids {
		e.call("GET", "/org/records/"+id, a.token, nil).mustStatus(t, 200)
	}
	if got := e.collections(e.db.TenantDB); !slices.Equal(got, []string{"org_name7"}) {
		t.Errorf("tenant collections %v, want [org_name7]", got)
	}
	if n := len(e.rawDocs("org_name7")); n != len(ids) {
		t.Errorf("org_name7 holds %d documents, %d were acknowledged", n, len(ids))
	}
	e.mustHold()
}
