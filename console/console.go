// Package console serves the organization admin's web console: static files
// embedded in the binary that call orgd's public API from the browser.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Policy is the console's Content-Security-Policy: scripts, styles, images
// and API calls from orgd itself only, no inline script or style, no frames.
const Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// asset is one embedded file with what it is served with.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Console serves the console's files.
type Console struct {
	assets map[string]asset // by name; "" is the page
}

// New loads the embedded files.
func New() *Console {
	c := &Console{assets: map[string]asset{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "static/")
		if name == "index.html" {
			name = ""
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		c.assets[name] = asset{body: b, contentType: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil { // the files are compiled in: this cannot happen in a built binary
		panic("console: reading embedded files: " + err.Error())
	}
	return c
}

// Files returns the names of the files besides the page, to route them.
func (c *Console) Files() []string {
	var names []string
	for name := range c.assets {
		if name != "" {
			names = append(names, name)
		}
	}
	return names
}

// ServeHTTP serves the page for /console/ and a file for /console/<name>;
// any other path is answered 404. Its headers replace the API's policy,
// which lets a response load nothing at all.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.URL.Path)
	if strings.HasSuffix(r.URL.Path, "/") {
		name = ""
	}
	a, ok := c.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", Policy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache") // revalidated by ETag: a new binary's console is seen at once
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
