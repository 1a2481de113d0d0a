package api

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// openQuery is the Metadata key of an operation that takes, besides its
// declared parameters, any parameter whose name has this prefix ("": any).
const openQuery = "openQueryPrefix"

// strictQuery refuses a query parameter the operation does not take, and a
// second value of one that takes a single value. huma ignores the first and
// reads the first value of the second: a misspelled filter
// (?WHERE.status=active) would list every record, and
// ?organization_name=a&organization_name=b would act on a.
func (s *Server) strictQuery(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	q, _ := url.ParseQuery(ctx.URL().RawQuery) // hygiene refused one that does not parse
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	prefix, open := op.Metadata[openQuery].(string)
	var errs []error
	for _, name := range names {
		if open && strings.HasPrefix(name, prefix) {
			continue
		}
		i := slices.IndexFunc(op.Parameters, func(p *huma.Param) bool { return p.In == "query" && p.Name == name })
		switch {
		case i < 0 && !plainName(name): // not echoed: it could be anything, a password pasted in the wrong place included
			errs = append(errs, &huma.ErrorDetail{Location: "query", Message: "names a parameter this operation does not take" + known(op)})
		case i < 0:
			errs = append(errs, &huma.ErrorDetail{Location: "query." + name, Message: "is not a parameter of this operation" + known(op)})
		case len(q[name]) > 1 && (op.Parameters[i].Schema == nil || op.Parameters[i].Schema.Type != "array"):
			errs = append(errs, &huma.ErrorDetail{Location: "query." + name, Message: "is given more than once; which value was meant is not guessed"})
		}
	}
	if len(errs) > 0 {
		_ = huma.WriteErr(s.api, ctx, http.StatusUnprocessableEntity, "The query string names a parameter this operation does not take, or gives one twice.", errs...)
		return
	}
	next(ctx)
}

// known lists an operation's query parameters, for an error message.
func known(op *huma.Operation) string {
	var names []string
	for _, p := range op.Parameters {
		if p.In == "query" {
			names = append(names, p.Name)
		}
	}
	if prefix, _ := op.Metadata[openQuery].(string); prefix != "" {
		names = append(names, prefix+"<field>")
	}
	if len(names) == 0 {
		return " (it takes none)"
	}
	return " (it takes " + strings.Join(names, ", ") + ")"
}

// plainName reports whether a query parameter's name looks like one: short,
// of letters, digits and "_.-".
func plainName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
