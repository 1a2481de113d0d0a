package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/auth"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// stepTimeout bounds one step of a browser test: generous, for a loaded machine.
const stepTimeout = 20 * time.Second

// chromium finds a Chromium or Chrome to drive, or "".
func chromium() string {
	if p := os.Getenv("ORGD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startOrgd serves orgd over a fresh database, as the api tests do, with
// access tokens that live for ttl and no tolerance of clock skew. wrap, if
// given, stands between the browser and orgd.
func startOrgd(t *testing.T, ttl time.Duration, wrap ...func(http.Handler) http.Handler) string {
	t.Helper()
	db := mongotest.New(t)
	logger := slog.New(slog.DiscardHandler)
	store := mongodb.NewStore(db.Client, mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, Logger: logger})
	key, err := auth.SecretKey([]byte("console-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.New(auth.Config{Keys: []auth.Key{key}, TTL: ttl, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := auth.NewPasswords(4)
	if err != nil {
		t.Fatal(err)
	}
	s := api.NewServer(api.Deps{Store: store, Records: store, Tokens: tokens, Passwords: passwords, Logger: logger, Version: "test"})
	h := s.Handler()
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// page is one browser tab on the console, with what the test watches.
type page struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string // where screenshots go; "" takes none

	mu       sync.Mutex
	requests []string // every URL the page asked for
	console  []chromedp.ConsoleMessage
}

// needChromium skips the test when no Chromium is installed, and returns it.
func needChromium(t *testing.T) string {
	t.Helper()
	exe := chromium()
	if exe == "" {
		t.Skip("no Chromium installed: the console's browser tests need it " +
			"(apt-get install chromium; .ci/run installs it)")
	}
	return exe
}

// openBrowser starts headless Chromium with a fresh profile, or skips the
// test when none is installed.
func openBrowser(t *testing.T, base string) *page {
	t.Helper()
	exe := needChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium puts its profile lock's socket in a directory of its own
		// under TMPDIR and removes it only on a clean exit, which a test's
		// end is not: without this, every run left one in /tmp.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() }) // before TempDir's cleanup: the browser has exited
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	p := &page{t: t, ctx: ctx, base: base}
	if os.Getenv("ORGD_SCREENSHOTS") != "" {
		p.shots = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(p.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			p.mu.Lock()
			p.requests = append(p.requests, e.Request.URL)
			p.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	return p
}

// do runs a step's actions; on failure it reports what the page shows.
func (p *page) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v\nthe page shows: %s\nits console: %s", step, err, p.shows(), p.consoleText())
	}
}

// consoleText returns what the page wrote to its console.
func (p *page) consoleText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, m := range p.console {
		fmt.Fprintf(&b, "\n  %s", m)
	}
	return b.String()
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shows returns the visible notices and error messages, to explain a failure.
func (p *page) shows() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + (document.querySelector('dialog[open]') ? " | a dialog is open" : "") +
		" | " + [...document.querySelectorAll(
		'#notice, .form-error, .field-error, .status')].filter((e) => !e.closest('[hidden]') && e.textContent.trim())
		.map((e) => (e.id || e.className) + ': ' + e.textContent.trim()).join(' | ')`))
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return s
}

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// visibleText waits until the element sel is shown and its text holds want.
func visibleText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		const text = e && (e.tagName === 'TEXTAREA' || e.tagName === 'INPUT' ? e.value : e.textContent);
		return !!e && !e.closest('[hidden]') && text.includes(%s);
	})()`, js(sel), js(want)), chromedp.WithPollingTimeout(stepTimeout))
}

// until waits for a JavaScript condition.
func until(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(stepTimeout))
}

// rows waits until the table sel has n body rows.
func rows(sel string, n int) chromedp.Action[chromedp.Void] {
	return until(fmt.Sprintf(`document.querySelectorAll(%s).length === %d && !document.querySelector('[aria-busy]')`,
		js(sel+" tbody tr"), n))
}

func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
}

func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(sel), v, chromedp.NodeVisible)
}

// fill types into a form's fields, the way a user does.
func fill(fields ...string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for i := 0; i+1 < len(fields); i += 2 {
			clear := fmt.Sprintf(`document.querySelector(%s).value = ""`, js(fields[i]))
			if _, err := chromedp.Evaluate[chromedp.Void](clear)(ctx, t); err != nil {
				return err
			}
			if _, err := chromedp.SendKeys(chromedp.CSS(fields[i]), fields[i+1], chromedp.NodeVisible)(ctx, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// shot saves a screenshot of the whole page as docs/screenshots/<name>.png
// when ORGD_SCREENSHOTS is set.
func (p *page) shot(name string) { p.screenshot(name, chromedp.FullScreenshot(100)) }

// shotViewport saves a screenshot of what fits in the viewport, as a phone's
// screen shows it.
func (p *page) shotViewport(name string) { p.screenshot(name, chromedp.CaptureScreenshot()) }

func (p *page) screenshot(name string, capture chromedp.Action[[]byte]) {
	p.t.Helper()
	if p.shots == "" {
		return
	}
	p.do("settle before screenshot "+name, until(`document.getElementById('activity').hidden`),
		chromedp.Sleep(300*time.Millisecond)) // let transitions end
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, capture)
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.shots, name+".png"), buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// checkClean fails the test for a page error, a Content-Security-Policy
// violation or a request to anywhere but orgd.
func (p *page) checkClean() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.console {
		if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
			p.t.Errorf("console: %s (%s:%d)", m, m.URL, m.Line+1)
		}
	}
	for _, u := range p.requests {
		if !strings.HasPrefix(u, p.base+"/") && !strings.HasPrefix(u, "blob:") && !strings.HasPrefix(u, "data:") {
			p.t.Errorf("the console asked for %s: everything must come from orgd", u)
		}
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
