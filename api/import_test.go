package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/api"
)

// TestImportStoppedSaysWhereToResume checks that an import stopped halfway
// by a rename says which lines are done, so that the client resends only the
// rest: a line without an id sent twice would be imported twice. Stopped by
// the organization's deletion, it says nothing of the kind: there is nothing
// left to resume.
func TestImportStoppedSaysWhereToResume(t *testing.T) {
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		detail                   string // the end of the problem's detail
		left                     int64  // records left in org_acme and org_acme2
	}{
		{"renamed", "PUT", "/org/update", `{"organization_name":"acme2"}`, 409,
			"Lines 1 to 500 are done (500 records imported): send the lines from 501 on.", 500},
		{"deleted", "DELETE", "/org/delete?organization_name=acme", "", 404, "was deleted.", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.tenant("acme")
			pr, pw := io.Pipe()
			req, _ := http.NewRequest("POST", e.srv.URL+"/org/import", pr)
			req.Header.Set("Authorization", "Bearer "+a.token)
			req.Header.Set("Content-Type", "application/x-ndjson")
			done := make(chan response, 1)
			go func() { done <- e.do(req) }()

			lines := func(from, to int) {
				var b strings.Builder
				for i := from; i <= to; i++ {
					fmt.Fprintf(&b, "{\"n\":%d}\n", i)
				}
				if _, err := io.WriteString(pw, b.String()); err != nil {
					t.Error(err)
				}
			}
			lines(1, 500) // one whole batch, inserted once its last line is read
			for deadline := time.Now().Add(30 * time.Second); e.count(e.db.TenantDB, "org_acme") < 500; {
				if time.Now().After(deadline) {
					t.Fatal("the first batch never landed")
				}
				time.Sleep(20 * time.Millisecond)
			}
			var body any
			if c.body != "" {
				body = c.body
			}
			e.call(c.method, c.path, a.token, body).mustStatus(t, map[string]int{"PUT": 200, "DELETE": 204}[c.method])
			lines(501, 1200)
			_ = pw.Close()

			r := <-done
			r.isProblem(t, c.status)
			if d, _ := r.JSON["detail"].(string); !strings.HasSuffix(d, c.detail) {
				t.Errorf("detail %q does not end with %q", d, c.detail)
			}
			if n := e.count(e.db.TenantDB, "org_acme") + e.count(e.db.TenantDB, "org_acme2"); n != c.left {
				t.Errorf("%d records left, want %d", n, c.left)
			}
		})
	}
}

// TestImportListsTheFirstRejectedLines checks that the rejected lines listed
// are the first 1,000, in order, although a duplicate id is refused only
// when its batch is written, after later lines were refused for their form.
func TestImportListsTheFirstRejectedLines(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	id := e.record(a, `{"n":1}`)
	lines := []string{`{"id":"` + id + `","n":2}`}
	for range 1001 {
		lines = append(lines, `{bad`)
	}
	r := e.importLines(a.token, strings.Join(lines, "\n")).mustStatus(t, 200)
	listed, _ := r.JSON["rejected"].([]any)
	if r.JSON["rejected_total"] != float64(1002) || len(listed) != 1000 {
		t.Fatalf("rejected_total %v, %d listed; want 1002 and 1000", r.JSON["rejected_total"], len(listed))
	}
	for i, x := range listed {
		if line := x.(map[string]any)["line"]; line != float64(i+1) {
			t.Fatalf("listed #%d is line %v, want %d (the first 1,000 in order)", i, line, i+1)
		}
	}
}

// TestImportOverItsLimit checks that an import whose body passes its limit
// says which lines are done, as an import stopped for any other reason does:
// the line the limit cut is neither imported nor rejected, and is sent again.
func TestImportOverItsLimit(t *testing.T) {
	var body strings.Builder
	body.WriteString("{\"$x\":1}\n") // rejected, and done: the answer lists it
	for i := 2; body.Len() < 64<<10; i++ {
		fmt.Fprintf(&body, "{\"n\":%d,\"pad\":\"%s\"}\n", i, strings.Repeat("x", 100))
	}
	limit := int64(body.Len() - 50) // within the last line
	e := newEnv(t, func(d *api.Deps) { d.ImportMaxBytes = limit })
	a := e.tenant("acme")
	r := e.call("POST", "/org/import", a.token, body.String())
	r.isProblem(t, 413)
	n := e.count(e.db.TenantDB, "org_acme")
	want := fmt.Sprintf("Import bodies are limited to %d bytes: split the file. Lines 1 to %d are done (%d records imported): send the lines from %d on.", limit, n+1, n, n+2)
	if r.JSON["detail"] != want {
		t.Errorf("detail %q, want %q", r.JSON["detail"], want)
	}
	if n == 0 || n%500 != 0 {
		t.Errorf("%d records imported, want whole batches of 500", n)
	}
	if errs, _ := r.JSON["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["location"] != "line 1" {
		t.Errorf("errors %v, want line 1's rejection", r.JSON["errors"])
	}
}
