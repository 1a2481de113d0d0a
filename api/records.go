package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/orgd/orgd"
)

// RecordStore is what the records endpoints need from storage. Records are
// JSON objects; the organization always comes from the verified token.
type RecordStore interface {
	CreateRecord(ctx context.Context, o *orgd.Organization, body []byte) (id string, record []byte, err error)
	GetRecord(ctx context.Context, o *orgd.Organization, id string) ([]byte, error)
	ReplaceRecord(ctx context.Context, o *orgd.Organization, id string, body []byte) ([]byte, error)
	PatchRecord(ctx context.Context, o *orgd.Organization, id string, patch []byte) ([]byte, error)
	DeleteRecord(ctx context.Context, o *orgd.Organization, id string) error
	ListRecords(ctx context.Context, o *orgd.Organization, q orgd.RecordQuery) (*orgd.RecordPage, error)
	ExportRecords(ctx context.Context, o *orgd.Organization, w io.Writer) error
	ImportRecords(ctx context.Context, o *orgd.Organization, r io.Reader) (*orgd.ImportReport, error)
}

// importMaxBytes bounds one import request.
const importMaxBytes = 256 << 20

type (
	recordIDPath struct {
		ID string `path:"id" maxLength:"64" doc:"The record's id, as returned when it was created"`
	}
	createRecordInput struct {
		ContentType string `header:"Content-Type"`
		RawBody     []byte `contentType:"application/json"`
	}
	recordBodyInput struct {
		ID          string `path:"id" maxLength:"64" doc:"The record's id, as returned when it was created"`
		ContentType string `header:"Content-Type"`
		RawBody     []byte `contentType:"application/json"`
	}
	recordOutput struct {
		ContentType string `header:"Content-Type"`
		Location    string `header:"Location"`
		Body        []byte
	}
	listRecordsInput struct {
		Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Records per page"`
		After string `query:"after" pattern:"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$" doc:"The next cursor of the previous page: a record id"`
		where []orgd.Filter
	}
	importInput struct {
		ContentType string `header:"Content-Type"`
		body        io.Reader
	}
	importOutput struct {
		Body struct {
			Imported      int              `json:"imported"`
			Rejected      []importRejected `json:"rejected"`
			RejectedTotal int              `json:"rejected_total" doc:"All rejected lines; at most 1,000 are listed"`
		}
	}
	importRejected struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	}
)

// Resolve collects the where.<field>=<value> filters, which have open names.
func (in *listRecordsInput) Resolve(ctx huma.Context) []error {
	var errs []error
	// hygiene has refused a query string that does not parse, in which a
	// filter with a bare ';' or a bad '%' escape would have vanished.
	q, _ := url.ParseQuery(ctx.URL().RawQuery)
	for k, vs := range q {
		field, ok := strings.CutPrefix(k, "where.")
		if !ok {
			continue
		}
		if msg := recordFieldRule(field); msg != "" {
			errs = append(errs, &huma.ErrorDetail{Location: "query." + k, Message: msg})
			continue
		}
		for _, v := range vs {
			in.where = append(in.where, orgd.Filter{Field: field, Value: v})
		}
	}
	return errs
}

// recordFieldRule says why field cannot be filtered on, or "".
func recordFieldRule(field string) string {
	switch {
	case field == "" || field[0] == '$' || strings.ContainsAny(field, ".\x00"):
		return "must name a top-level field (no '$' at the start, no '.')"
	case field == "id" || field == "_id":
		return "get a record by id with GET /org/records/{id}"
	case field == "_org":
		return "is orgd's own field, which no record holds"
	}
	return ""
}

// Resolve takes the body as a stream, so that an import of any size is read
// line by line, never held whole.
func (in *importInput) Resolve(ctx huma.Context) []error {
	in.body = &progressReader{r: ctx.BodyReader(), extend: ctx.SetReadDeadline, end: time.Now().Add(importMaxTime)}
	return nil
}

// jsonType checks a request's content type for a JSON document.
func jsonType(ct string, patch bool) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || patch && mt == "application/merge-patch+json") {
		return nil
	}
	want := "application/json"
	if patch {
		want += " or application/merge-patch+json"
	}
	return huma.NewError(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported: send %s.", ct, want))
}

func (s *Server) records(ctx context.Context) (*orgd.Organization, RecordStore) {
	return caller(ctx).Org, s.Records
}

func recordResp(b []byte, location string) *recordOutput {
	return &recordOutput{ContentType: "application/json", Location: location, Body: b}
}

func (s *Server) handleCreateRecord(ctx context.Context, in *createRecordInput) (*recordOutput, error) {
	if err := jsonType(in.ContentType, false); err != nil {
		return nil, err
	}
	o, rs := s.records(ctx)
	id, b, err := rs.CreateRecord(ctx, o, in.RawBody)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return recordResp(b, "/org/records/"+url.PathEscape(id)), nil
}

func (s *Server) handleGetRecord(ctx context.Context, in *recordIDPath) (*recordOutput, error) {
	o, rs := s.records(ctx)
	b, err := rs.GetRecord(ctx, o, in.ID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return recordResp(b, ""), nil
}

func (s *Server) handleReplaceRecord(ctx context.Context, in *recordBodyInput) (*recordOutput, error) {
	if err := jsonType(in.ContentType, false); err != nil {
		return nil, err
	}
	o, rs := s.records(ctx)
	b, err := rs.ReplaceRecord(ctx, o, in.ID, in.RawBody)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return recordResp(b, ""), nil
}

func (s *Server) handlePatchRecord(ctx context.Context, in *recordBodyInput) (*recordOutput, error) {
	if err := jsonType(in.ContentType, true); err != nil {
		return nil, err
	}
	o, rs := s.records(ctx)
	b, err := rs.PatchRecord(ctx, o, in.ID, in.RawBody)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return recordResp(b, ""), nil
}

func (s *Server) handleDeleteRecord(ctx context.Context, in *recordIDPath) (*struct{}, error) {
	o, rs := s.records(ctx)
	if err := rs.DeleteRecord(ctx, o, in.ID); err != nil {
		return nil, s.problem(ctx, err)
	}
	return nil, nil
}

func (s *Server) handleListRecords(ctx context.Context, in *listRecordsInput) (*recordOutput, error) {
	o, rs := s.records(ctx)
	page, err := rs.ListRecords(ctx, o, orgd.RecordQuery{Limit: in.Limit, After: in.After, Where: in.where})
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	b := []byte(`{"records":[`)
	for i, r := range page.Records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	b = append(b, `],"next":`...)
	if page.Next == "" {
		b = append(b, "null"...)
	} else {
		b = fmt.Appendf(b, "%q", page.Next)
	}
	return recordResp(append(b, '}'), ""), nil
}

func (s *Server) handleExport(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
	o, rs := s.records(ctx)
	return &huma.StreamResponse{Body: func(hc huma.Context) {
		w := &lazyWriter{hc: hc}
		err := rs.ExportRecords(ctx, o, w)
		switch {
		case err != nil && !w.started:
			s.writeErr(hc, s.problem(ctx, err))
		case err != nil:
			// The status is sent: all that can be done is to break the stream,
			// so that the client sees an error rather than a file that ends
			// early but well-formed.
			s.Logger.WarnContext(ctx, "export cut short", "org_id", o.ID, "err", err)
			panic(http.ErrAbortHandler)
		case !w.started:
			w.start()
		}
	}}, nil
}

// lazyWriter sends the NDJSON status and headers with the first byte, so that
// an export failing before it sent anything can still answer with a problem.
type lazyWriter struct {
	hc      huma.Context
	started bool
}

func (w *lazyWriter) start() {
	w.started = true
	w.hc.SetHeader("Content-Type", "application/x-ndjson")
	w.hc.SetHeader("Content-Disposition", `attachment; filename="records.ndjson"`)
	w.hc.SetStatus(http.StatusOK)
}

func (w *lazyWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.start()
	}
	return w.hc.BodyWriter().Write(p)
}

func (s *Server) handleImport(ctx context.Context, in *importInput) (*importOutput, error) {
	if in.ContentType != "" {
		mt, _, err := mime.ParseMediaType(in.ContentType)
		if err != nil || mt != "application/x-ndjson" && mt != "application/jsonl" && mt != "application/json" {
			return nil, huma.NewError(http.StatusUnsupportedMediaType,
				fmt.Sprintf("Content-Type %q is not supported: send application/x-ndjson, one JSON object per line.", in.ContentType))
		}
	}
	if p, ok := in.body.(*progressReader); ok {
		p.idle = s.ImportIdle
	}
	o, rs := s.records(ctx)
	max := cmp.Or(s.ImportMaxBytes, importMaxBytes)
	body := &limitedReader{r: in.body, n: max}
	rep, err := rs.ImportRecords(ctx, o, body)
	if body.over {
		limit := fmt.Sprintf("%d MiB", max>>20)
		if max%(1<<20) != 0 {
			limit = fmt.Sprintf("%d bytes", max)
		}
		return nil, withProgress(huma.NewError(http.StatusRequestEntityTooLarge, "Import bodies are limited to "+limit+": split the file."), rep)
	}
	if err != nil {
		return nil, withProgress(s.problem(ctx, err), rep)
	}
	out := &importOutput{}
	out.Body.Imported, out.Body.RejectedTotal = rep.Imported, rep.RejectedTotal
	out.Body.Rejected = make([]importRejected, 0, len(rep.Rejected))
	for _, r := range rep.Rejected {
		out.Body.Rejected = append(out.Body.Rejected, importRejected{Line: r.Line, Error: r.Error})
	}
	return out, nil
}

// withProgress adds to the problem of an import that stopped early how far
// it got, so that the client sends again only the lines that were not done.
func withProgress(err error, rep *orgd.ImportReport) error {
	var m *huma.ErrorModel
	if !errors.As(err, &m) || m.Status == http.StatusNotFound { // the organization is gone, and what it imported
		return err
	}
	if rep == nil { // refused before it began
		rep = &orgd.ImportReport{}
	}
	switch {
	case rep.Unsure > rep.Through:
		done := "Nothing is done for sure"
		if rep.Through > 0 {
			done = fmt.Sprintf("Lines 1 to %d are done (%d records imported)", rep.Through, rep.Imported)
		}
		m.Detail += fmt.Sprintf(" %s; lines %d to %d may have been imported: check them, then send the lines from %d on.",
			done, rep.Through+1, rep.Unsure, rep.Unsure+1)
	case rep.Through == 0:
		m.Detail += " Nothing was imported: send every line again."
	default:
		m.Detail += fmt.Sprintf(" Lines 1 to %d are done (%d records imported): send the lines from %d on.",
			rep.Through, rep.Imported, rep.Through+1)
	}
	// The lines done include rejected ones, which the client is not told
	// of again: they are listed as an answer that ends well lists them.
	for _, r := range rep.Rejected {
		if r.Line <= rep.Through {
			m.Errors = append(m.Errors, &huma.ErrorDetail{Location: fmt.Sprintf("line %d", r.Line), Message: r.Error})
		}
	}
	return err
}

// limitedReader reads at most n bytes and remembers whether there was more.
// Past the limit it fails rather than end: the line it cut is not a line,
// and an import stops at a failed read with every line before the last
// batch it wrote left for the client to send again.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

var errBodyOver = errors.New("import body over its limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			l.over = true
			return 0, errBodyOver
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}
