package api

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgd/orgd/auth"
)

// Security configures protections beyond the tokens themselves.
type Security struct {
	// RefreshTTL is how long a login lasts: its refresh tokens are refused
	// after it, however often they were rotated. Zero means 30 days.
	RefreshTTL time.Duration
	// CORSOrigins are the browser origins allowed to call the API
	// ("https://app.example.com"); empty turns CORS off.
	CORSOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For and X-Request-Id are
	// believed; the client address is the first untrusted hop from the right.
	TrustedProxies []netip.Prefix
	// TrustUnixPeers trusts, as it trusts TrustedProxies, every peer on a
	// Unix socket: only processes given the socket's file can connect.
	TrustUnixPeers bool
}

// DefaultRefreshTTL is the default lifetime of a login.
const DefaultRefreshTTL = 30 * 24 * time.Hour

// withDefaults fills the optional collaborators of d.
func withDefaults(d Deps) Deps {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Sessions == nil {
		ss, ok := d.Store.(Sessions)
		if !ok {
			panic("api: Deps.Sessions is nil and Deps.Store does not implement Sessions")
		}
		d.Sessions = ss
	}
	if d.Audit == nil {
		a, ok := d.Store.(Audit)
		if !ok {
			panic("api: Deps.Audit is nil and Deps.Store does not implement Audit")
		}
		d.Audit = a
	}
	if d.Throttle == nil {
		d.Throttle = auth.NewThrottle(auth.ThrottleConfig{Window: auth.DefaultLoginWindow,
			AccountLimit: auth.DefaultAccountLimit, AddrLimit: auth.DefaultAddrLimit, Now: d.Now})
	}
	if d.Passwords != nil {
		d.Passwords = notedPasswords{d.Passwords}
	}
	if d.Security.RefreshTTL <= 0 {
		d.Security.RefreshTTL = DefaultRefreshTTL
	}
	return d
}

// Content security policies: nothing at all may load from API responses;
// the docs page (swagger-ui) needs its own inline script and styles.
const (
	strictCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	docsCSP   = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

// securityHeaders are the headers every response carries, with csp as its
// Content-Security-Policy, keyed in canonical form.
func securityHeaders(csp string) http.Header {
	h := http.Header{}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Content-Security-Policy", csp)
	return h
}

// requestInfo is what the audit log needs to know of a request.
type requestInfo struct {
	RequestID  string
	ClientAddr string
}

type requestInfoKey struct{}

func clientInfo(ctx context.Context) requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return ri
}

// hygiene sets the security headers of every response, answers CORS,
// refuses a query string that does not parse and a coded body or one in
// another charset than UTF-8 (a request without a body has none), notes the request's id and
// client address, and guards its body (body.go).
func (s *Server) hygiene(next http.Handler) http.Handler {
	api, docs := securityHeaders(strictCSP), securityHeaders(docsCSP)
	api["Cache-Control"] = []string{"no-store"} // a route may allow caching (the JWKS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := api
		if r.URL.Path == "/docs" || strings.HasPrefix(r.URL.Path, "/docs/") {
			set = docs
		}
		h := w.Header()
		for k, v := range set {
			h[k] = v // shared, and full (len == cap): an Add copies, never writes into it
		}
		peer, trusted := s.peer(r)
		ri := requestInfo{ClientAddr: peer, RequestID: requestID(r.Context())} // the id observe gave it
		if trusted {
			ri.ClientAddr = s.forwardedFor(r, peer)
		}
		if s.cors(w, r) {
			return
		}
		// Parsers drop what they cannot unescape: "?organization_name=acme%zz"
		// would read as no name at all, which a token then fills in.
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			writeProblem(w, r, http.StatusUnprocessableEntity, "The query string is malformed: escape ';' as %3B, '%' as %25 and '&' as %26 in values.")
			return
		}
		// No coding is decoded: a compressed body would be read as its bytes.
		if ce := bodyCoding(r.Header); ce != "" {
			w.Header().Set("Accept-Encoding", "identity")
			writeProblem(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q is not supported: send the body uncompressed.", ce))
			return
		}
		// Every body orgd reads is JSON, which is UTF-8 (RFC 8259): one said
		// to be Latin-1 would be read as UTF-8 all the same, its text changed.
		if cs := bodyCharset(r.Header.Get("Content-Type")); cs != "" && r.Body != nil && r.Body != http.NoBody {
			writeProblem(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("charset %q is not supported: send the body in UTF-8.", cs))
			return
		}
		normalizeMediaTypes(r)
		w, r = guardBody(w, r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)))
	})
}

// bodyCoding returns the first content coding h names other than identity,
// in any of its Content-Encoding lines and lists ("identity, gzip").
func bodyCoding(h http.Header) string {
	for _, line := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(line, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return c
			}
		}
	}
	return ""
}

// bodyCharset returns the charset a Content-Type names, when it is not
// UTF-8 (or "utf8", a label of it many clients send) or its subset US-ASCII.
func bodyCharset(ct string) string {
	if !strings.Contains(ct, ";") { // no parameters (and no body, on most requests): nothing to parse
		return ""
	}
	_, params, err := mime.ParseMediaType(ct)
	cs, ok := params["charset"]
	if err != nil || !ok {
		return ""
	}
	switch strings.ToLower(cs) {
	case "utf-8", "utf8", "us-ascii":
		return ""
	}
	return cs
}

// normalizeMediaTypes writes the request's media types as huma matches
// them: Content-Type in lower case (media types are case-insensitive) and
// without space before its parameters (huma cuts it at the ";"), and Accept
// rewritten by acceptable.
func normalizeMediaTypes(r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" && (ct != strings.ToLower(ct) || strings.Contains(ct, ";")) {
		// FormatMediaType gives "" for what it cannot write back (a
		// parameter named "*0", which ParseMediaType reads as a continuation
		// of no name): the header then stays as sent, and is refused.
		if mt, params, err := mime.ParseMediaType(ct); err == nil {
			if f := mime.FormatMediaType(mt, params); f != "" {
				r.Header.Set("Content-Type", f)
			}
		}
	}
	if a, ok := r.Header["Accept"]; ok {
		if v := acceptable(strings.Join(a, ",")); v != "" {
			r.Header.Set("Accept", v)
		} else {
			r.Header.Del("Accept")
		}
	}
}

// acceptable rewrites an Accept header as "type/subtype;q=0.5, ..." with
// only the media ranges that parse and may be chosen. huma's negotiation
// reads the header by position and assumes that form: a bare parameter
// ("text/html;q") made it slice out of range, and an element naming no
// media type ("json") was answered with that as the Content-Type.
func acceptable(header string) string {
	var out []string
	for el := range strings.SplitSeq(header, ",") {
		mt, params, err := mime.ParseMediaType(el)
		if err != nil || strings.Count(mt, "/") != 1 {
			continue
		}
		q, ok := params["q"]
		if !ok {
			out = append(out, mt)
			continue
		}
		if w, err := strconv.ParseFloat(q, 64); err == nil && w > 0 && w <= 1 {
			out = append(out, mt+";q="+q)
		} // q=0 means "not this", which huma would read as q=1
	}
	return strings.Join(out, ", ")
}

// cors adds CORS headers for an allowed origin and answers its preflight
// (returning true). Without configured origins it does nothing: browsers then
// refuse cross-origin calls.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if len(s.Security.CORSOrigins) == 0 {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(s.Security.CORSOrigins, origin) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "Location, Retry-After, WWW-Authenticate, X-Request-Id")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// UnixPeer is the client address of a request that came over a Unix socket
// from no trusted proxy.
const UnixPeer = "unix"

// peer returns the address of the connection's other end and whether it is
// a trusted proxy.
func (s *Server) peer(r *http.Request) (string, bool) {
	// A Unix socket's peers have no address ("@" in RemoteAddr): they are
	// all named by the socket's kind, and trusted together or not at all.
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && a.Network() == "unix" {
		return UnixPeer, s.Security.TrustUnixPeers
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host, false
	}
	return a.Unmap().String(), s.trusted(a)
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.Security.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor walks X-Forwarded-For from the right, past trusted proxies,
// and returns the first address they did not add themselves: entries further
// left were written by the client and prove nothing.
func (s *Server) forwardedFor(r *http.Request, peer string) string {
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := hopAddr(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		addr = a.Unmap().String()
		if !s.trusted(a) {
			break
		}
	}
	return addr
}

// hopAddr reads one X-Forwarded-For entry: an address, or an address and a
// port as some proxies write it ("203.0.113.9:4444", "[2001:db8::1]:443").
func hopAddr(hop string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(hop); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr(), true
	}
	if strings.HasPrefix(hop, "[") && strings.HasSuffix(hop, "]") {
		a, err := netip.ParseAddr(hop[1 : len(hop)-1])
		return a, err == nil
	}
	return netip.Addr{}, false
}
