package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestImportStoppedSaysWhereToResume checks that an import stopped halfway
// by a rename says which lines are done, so that the client resends only the
// rest: a line without an id sent twice would be imported twice.
func TestImportStoppedSaysWhereToResume(t *testing.T) {
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
	e.call("PUT", "/org/update", a.token, `{"organization_name":"acme2"}`).mustStatus(t, 200)
	lines(501, 1200)
	_ = pw.Close()

	r := <-done
	r.isProblem(t, 409)
	want := "Lines 1 to 500 are done (500 records imported): send the lines from 501 on."
	if d, _ := r.JSON["detail"].(string); !strings.HasSuffix(d, want) {
		t.Errorf("detail %q does not end with %q", d, want)
	}
	if n := e.count(e.db.TenantDB, "org_acme2"); n != 500 {
		t.Errorf("%d records after the rename, want the 500 that were imported", n)
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
