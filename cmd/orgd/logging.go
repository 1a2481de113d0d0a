package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/orgd/orgd/api"
)

// newLogger writes records at level and above to w: as JSON for machines,
// as text for a person at a terminal (format auto decides by w).
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == "json" || format == "auto" && !isTerminal(w) {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(api.WithRequestID(h))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
