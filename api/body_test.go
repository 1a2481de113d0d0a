package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/api"
)

// rawRequest sends req as written, closes the sending side, and returns the
// answer's status, content type and body.
func rawRequest(t *testing.T, addr, req string) (int, string, string) {
	t.Helper()
	res, body := rawResponse(t, addr, req)
	return res.StatusCode, res.Header.Get("Content-Type"), body
}

// rawResponse sends req, as written, on a connection of its own and returns
// the answer and its body.
func rawResponse(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestUnreadableBodies checks that a body the client garbled or cut short is
// a 400 problem that says so, never a 500 or an internal error in the log,
// whether huma decodes it or the import streams it.
func TestUnreadableBodies(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)
	chunked := "Transfer-Encoding: chunked\r\n\r\n"
	line := `{"n":1}` + "\n"
	for _, tt := range []struct{ name, req, detail string }{
		{"create, malformed chunk", "POST /org/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + chunked + "zz\r\n", "could not be read"},
		{"login, shorter than its length", "POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":", "could not be read"},
		{"record, malformed chunk", "POST /org/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Type: application/json\r\n" + chunked + "zz\r\n", "could not be read"},
		{"import, malformed chunk after a line", "POST /org/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Type: application/x-ndjson\r\n" + chunked +
			fmt.Sprintf("%x\r\n%s\r\n", len(line), line) + "zz\r\n", "Nothing was imported: send every line again."},
	} {
		status, ct, body := rawRequest(t, e.srv.Listener.Addr().String(), tt.req)
		if status != 400 || ct != "application/problem+json" || !strings.Contains(body, tt.detail) {
			t.Errorf("%s: %d %s %s", tt.name, status, ct, body)
		}
	}
	if strings.Contains(e.logs.String(), "internal error") {
		t.Errorf("a client's unreadable body was logged as an internal error:\n%s", e.logs.String())
	}
}

// TestSlowImport checks that an import may last longer than the server's
// ReadTimeout, which bounds every other request, as long as its body keeps
// arriving.
func TestSlowImport(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)
	slow := httptest.NewUnstartedServer(e.srv.Config.Handler)
	slow.Config.ReadTimeout = 500 * time.Millisecond
	slow.Start()
	defer slow.Close()
	pr, pw := io.Pipe()
	go func() {
		for i := range 5 {
			fmt.Fprintf(pw, `{"n":%d}`+"\n", i)
			time.Sleep(300 * time.Millisecond) // 1.5 s in all, three times the timeout
		}
		pw.Close()
	}()
	if status, b := postImport(t, slow.URL, tok, pr); status != 200 || !strings.Contains(b, `"imported":5`) {
		t.Errorf("slow import: %d %s", status, b)
	}
}

// postImport sends body to base's import, as it comes, with tok, and
// returns the answer's status and body.
func postImport(t *testing.T, base, tok string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/org/import", body)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestStalledImport checks that an import whose body stops arriving is a 408
// that says which lines are done, as a body cut short (400) does: sending
// the whole file again would import its first lines twice.
func TestStalledImport(t *testing.T) {
	e := newEnv(t, func(d *api.Deps) { d.ImportIdle = 500 * time.Millisecond })
	e.create(acme).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)
	pr, pw := io.Pipe()
	go func() {
		for i := range 600 { // more than one batch of 500 lines
			fmt.Fprintf(pw, `{"n":%d}`+"\n", i)
		}
		time.Sleep(2 * time.Second) // four times ImportIdle
		pw.Close()
	}()
	status, b := postImport(t, e.srv.URL, tok, pr)
	if status != 408 || !strings.Contains(b, "did not arrive in time") ||
		!strings.Contains(b, "Lines 1 to 500 are done (500 records imported): send the lines from 501 on.") {
		t.Errorf("stalled import: %d %s, want 408 saying lines 1 to 500 are done", status, b)
	}
}

// failingExport is a RecordStore whose export ends with end after its first
// records, more than the server buffers: the status and they are sent.
type failingExport struct {
	api.RecordStore
	end func() error
}

func (f failingExport) ExportRecords(_ context.Context, _ *orgd.Organization, w io.Writer) error {
	for range 1000 {
		if _, err := io.WriteString(w, `{"id":"01M8A83Q84SCRGWRN9MTEF641A"}`+"\n"); err != nil {
			return err
		}
	}
	return f.end()
}

// TestExportCutShort checks that an export failing after its status was
// sent (its database failed, or a bug panicked) breaks the response, so
// that the client cannot take what it got for the whole file, and that the
// log and metrics count it as a failure.
func TestExportCutShort(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func() error
	}{
		{"database fails", func() error { return orgd.Errorf(orgd.EUNAVAILABLE, "The database is unavailable; retry shortly.") }},
		{"bug panics", func() error { panic("a bug") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newObservedEnv(t, false, func(d *api.Deps) { d.Records = failingExport{d.Records, c.end} })
			e.create(acme).mustStatus(t, 201)
			tok := e.login(acme.email, acme.password)
			req, _ := http.NewRequest("GET", e.srv.URL+"/org/export", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if res.StatusCode != 200 || len(b) == 0 || err == nil {
				t.Errorf("export cut short: %d, %d bytes, error %v; want 200, some records, then an error", res.StatusCode, len(b), err)
			}
			lines := requestLines(t, e.logs)
			if l := lines[len(lines)-1]; l["route"] != "/org/export" || l["status"] != float64(500) || l["aborted"] != true {
				t.Errorf("logged %v, want /org/export with status 500, aborted", l)
			}
			m := e.call("GET", "/metrics", "", nil).mustStatus(t, 200)
			if want := `orgd_http_requests_total{code="5xx",method="GET",route="/org/export"} 1`; !strings.Contains(string(m.Raw), want) {
				t.Errorf("metrics lack %s:\n%s", want, m.Raw)
			}
		})
	}
}

// TestSlowBody checks that a body may take as long as the server's
// ReadTimeout allows (30 s in orgd), not the 5 s huma gives an operation by
// default, and that the server's limit still holds.
func TestSlowBody(t *testing.T) {
	e := newEnv(t)
	send := func(t *testing.T, url, name string, pause time.Duration) (int, string) {
		body := fmt.Sprintf(`{"organization_name":%q,"email":"a@%s.test","password":"correct horse"}`, name, name)
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, body[:10])
			time.Sleep(pause)
			_, _ = io.WriteString(pw, body[10:])
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", url+"/org/create", pr)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	t.Run("within the server's limit", func(t *testing.T) {
		t.Parallel()
		if status, b := send(t, e.srv.URL, "slow", 6*time.Second); status != 201 {
			t.Errorf("a body that took 6 s: %d %s", status, b)
		}
	})
	t.Run("past the server's limit", func(t *testing.T) {
		t.Parallel()
		strict := httptest.NewUnstartedServer(e.srv.Config.Handler)
		strict.Config.ReadTimeout = 500 * time.Millisecond
		strict.Start()
		defer strict.Close()
		if status, b := send(t, strict.URL, "late", 2*time.Second); status != 408 || !strings.Contains(b, "did not arrive in time") {
			t.Errorf("a body that took longer than ReadTimeout: %d %s", status, b)
		}
	})
}
