package mongodb

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// exportBatch is how many records the driver fetches at a time: memory stays
// bounded by one batch whatever the size of the collection.
const exportBatch = 500

// ExportRecords writes every record of the organization to w as NDJSON, one
// record per line, streaming.
func (s *Store) ExportRecords(ctx context.Context, o *orgd.Organization, w io.Writer) error {
	if err := readable(o); err != nil {
		return err
	}
	o, err := s.current(ctx, o) // a backup must not come out empty for records moved away
	if err != nil {
		return err
	}
	// The data may have moved again since (a rename right after another):
	// an export that found nothing follows it (and has written nothing).
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := s.follow(ctx, o, func(o *orgd.Organization) (bool, error) {
		n, err := s.exportAt(ctx, o, bw)
		return n > 0, err
	}); err != nil {
		return err
	}
	return bw.Flush()
}

// exportAt writes to bw the records where o says the organization's data
// is, and returns how many.
func (s *Store) exportAt(ctx context.Context, o *orgd.Organization, bw *bufio.Writer) (int, error) {
	cur, err := s.tenantCollection(o).Find(ctx, bson.D{{Key: fieldOrg, Value: o.ID}}, options.Find().SetBatchSize(exportBatch))
	if err != nil {
		return 0, translate(err)
	}
	defer cur.Close(ctx)
	n := 0
	var line []byte
	for cur.Next(ctx) {
		if line, err = appendRecord(line[:0], cur.Current); err != nil {
			return n, err
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return n, err
		}
		n++
	}
	return n, translate(cur.Err())
}

// Import limits.
const (
	importBatch       = 500
	importBatchBytes  = 4 << 20 // of input: decoded, a line can take 10 times its size
	importMaxRejected = 1000
)

// ImportRecords reads NDJSON from r and inserts each line as a record, in
// batches. A line that is not a valid record is rejected and reported by its
// number; the others are imported. A line's "id", when it has the form of a
// record id, is kept (so that an export can be restored); otherwise the
// record gets a new id. If the import stops early (the database failed), the
// report says how far it got.
func (s *Store) ImportRecords(ctx context.Context, o *orgd.Organization, r io.Reader) (*orgd.ImportReport, error) {
	if err := usable(o); err != nil {
		return nil, err
	}
	rep := &orgd.ImportReport{}
	// The first lines rejected are listed, in order. A line refused by the
	// database (a duplicate id) is known only once its batch is written,
	// after later lines may have been refused for their form.
	reject := func(line int, msg string) {
		rep.RejectedTotal++
		n := len(rep.Rejected)
		if n == importMaxRejected && rep.Rejected[n-1].Line < line {
			return
		}
		i := n
		for i > 0 && rep.Rejected[i-1].Line > line {
			i--
		}
		rep.Rejected = slices.Insert(rep.Rejected, i, orgd.LineError{Line: line, Error: msg})
		if len(rep.Rejected) > importMaxRejected {
			rep.Rejected = rep.Rejected[:importMaxRejected]
		}
	}
	c := s.tenantCollection(o)
	var batch []any
	var lines []int
	size := 0 // input bytes in batch
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ctx, cancel := s.detachWrite(ctx) // the batch is settled even if the client hangs up
		defer cancel()
		// An import can outlast the start of a move or a rename, whose
		// pause would otherwise not stop it: each batch checks first.
		if err := s.stillWritable(ctx, o); err != nil {
			return err
		}
		res, err := c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		n := len(batch)
		if res != nil {
			n = len(res.InsertedIDs)
		}
		var bwe mongo.BulkWriteException
		failed := map[int]bool{}
		if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
			n = len(batch) - len(bwe.WriteErrors)
			for _, we := range bwe.WriteErrors {
				msg := "could not be stored"
				if we.Code == 11000 {
					msg = "a record with this id already exists"
				}
				reject(lines[we.Index], msg)
				failed[we.Index] = true
			}
			err = nil
		}
		if err != nil {
			// Some of the batch may be in: FerretDB, for one, stores an
			// insert of many in chunks of its own.
			rep.Unsure = lines[len(lines)-1]
			return translate(err)
		}
		// Should a rename or a move have raced the batch, what it stored
		// goes where the organization is now.
		var stored []any
		for i, d := range batch {
			if !failed[i] {
				stored = append(stored, d)
			}
		}
		if _, err := s.settle(ctx, o, s.relocate(ctx, o, stored)); err != nil {
			rep.Unsure = lines[len(lines)-1] // stored, but where is not settled
			return err
		}
		rep.Imported += n
		batch, lines, size = batch[:0], lines[:0], 0
		return nil
	}

	br := bufio.NewReaderSize(r, 64<<10)
	lastLine := 0
	for lineNo := 1; ; lineNo++ {
		line, tooLong, err := readLine(br, importLineMax)
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a byte order mark some editors write
		}
		if err == io.EOF && len(line) == 0 && !tooLong {
			break
		}
		lastLine = lineNo
		if err != nil && err != io.EOF {
			return rep, fmt.Errorf("read import body at line %d: %w", lineNo, err)
		}
		switch {
		case tooLong:
			reject(lineNo, "longer than a record of 1 MiB with its id")
		case len(bytes.TrimSpace(line)) == 0:
			// blank lines are allowed and skipped
		default:
			doc, msg := s.importLine(o, line)
			if msg != "" {
				reject(lineNo, msg)
				break
			}
			batch, lines, size = append(batch, doc), append(lines, lineNo), size+len(line)
			if len(batch) == importBatch || size >= importBatchBytes {
				if err := flush(); err != nil {
					return rep, err
				}
				rep.Through = lineNo
			}
		}
		if err == io.EOF {
			break
		}
	}
	// Each batch is settled where the organization is.
	if err := flush(); err != nil {
		return rep, err
	}
	rep.Through = lastLine
	return rep, nil
}

// importLine turns one NDJSON line into a document to insert, or says why not.
func (s *Store) importLine(o *orgd.Organization, line []byte) (bson.D, string) {
	doc, given, err := decodeRecordID(line)
	if err != nil {
		return nil, lineError(err)
	}
	id := s.newRecordID()
	if given != nil {
		g, ok := given.(string)
		if !ok || !validRecordID(g) {
			return nil, "id: must be a record id (26 characters, as exported), or be left out"
		}
		// Record ids are upper case; ULIDs are read in either, and a
		// lower-case copy would be a second id for the same record.
		id = strings.ToUpper(g)
	}
	full := append(bson.D{{Key: fieldID, Value: id}, {Key: fieldOrg, Value: o.ID}}, doc...)
	if _, err := renderRecord(full); err != nil {
		return nil, lineError(err)
	}
	return full, ""
}

// lineError says in one line why a line was rejected.
func lineError(err error) string {
	var e *orgd.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		return cmp.Or(e.Fields[0].Field, "record") + ": " + e.Fields[0].Message
	}
	return orgd.ErrorMessage(err)
}

// importLineMax is the longest line an import reads: a record of
// RecordMaxBytes as exported, with its id and a CRLF.
const importLineMax = orgd.RecordMaxBytes + 64

// readLine reads up to and without the next newline (LF or CRLF). A line
// longer than max is consumed and reported as too long, so that one bad line
// never costs unbounded memory.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > max {
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), tooLong, err
	}
}
