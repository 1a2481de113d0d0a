package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// commit is set at build time with -ldflags "-X main.commit=...", for builds
// without version control information (-buildvcs=false, or a source tree
// without .git, as in a container build).
var commit = ""

// build says which orgd this is.
type build struct {
	Version, Commit, GoVersion, Time string
	Modified                         bool
}

// readBuild combines the -ldflags values with the build information the Go
// toolchain embeds: the module version of `go install ...@v1.2.3`, and the
// version control revision when the build had it. -ldflags win.
func readBuild() build {
	b := build{Version: version, Commit: commit, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = info.GoVersion
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func (b build) commitOrUnknown() string {
	if b.Commit == "" {
		return "unknown"
	}
	return b.Commit
}

// printVersion is orgd version.
func printVersion(stdout io.Writer) error {
	b := readBuild()
	fmt.Fprintf(stdout, "orgd %s\n  commit: %s", b.Version, b.commitOrUnknown())
	if b.Modified {
		fmt.Fprint(stdout, " (with uncommitted changes)")
	}
	if b.Time != "" {
		fmt.Fprintf(stdout, ", %s", b.Time)
	}
	fmt.Fprintf(stdout, "\n  go:     %s\n", b.GoVersion)
	return nil
}
