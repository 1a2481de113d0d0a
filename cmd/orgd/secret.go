package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/orgd/orgd/auth"
)

// secretFileName is where embedded mode keeps its generated JWT secret.
const secretFileName = "jwt-secret"

// jwtSecrets returns the configured HS256 secrets, the signing one first.
// ORGD_JWT_SECRET_FILE may hold several, one per line: the first signs, the
// others only verify, which is how a secret is rotated. Against an external
// database a secret must be configured when HS256 signs; in embedded mode one
// is generated once and kept in the data directory. There is never a
// built-in default. Without generate (EdDSA signs), a missing secret is no
// error: HS256 tokens are then simply not accepted.
func jwtSecrets(cfg config, logger *slog.Logger, generate bool) ([][]byte, error) {
	switch {
	case cfg.JWTSecret != "":
		b, err := checkSecret([]byte(cfg.JWTSecret), "ORGD_JWT_SECRET")
		return [][]byte{b}, err
	case cfg.JWTSecretFile != "":
		b, err := readSecretFile(cfg.JWTSecretFile, "ORGD_JWT_SECRET_FILE")
		if err != nil {
			return nil, err
		}
		return secretLines(b, "ORGD_JWT_SECRET_FILE")
	case cfg.MongoURI != "" && generate:
		return nil, errors.New("MONGODB_URI is set but no JWT secret is: set ORGD_JWT_SECRET or ORGD_JWT_SECRET_FILE " +
			"(at least 32 bytes, e.g. `openssl rand -hex 32`), the same on every instance, so that tokens stay valid across instances")
	case cfg.MongoURI != "":
		return nil, nil
	}
	path := filepath.Join(cfg.DataDir, secretFileName)
	b, err := os.ReadFile(path)
	if err == nil && len(bytes.TrimSpace(bytes.Trim(b, "\x00"))) == 0 && generate {
		// Left empty (or zero-filled) by a crash while orgd wrote it, where
		// the file system has no hard links: no token was signed with it.
		if err = os.Remove(path); err == nil {
			err = fs.ErrNotExist
		}
	}
	if errors.Is(err, fs.ErrNotExist) && !generate {
		return nil, nil
	} else if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		b = []byte(hex.EncodeToString(raw))
		if err := writeNew(path, append(b, '\n')); err != nil {
			return nil, fmt.Errorf("write generated JWT secret: %w", err)
		}
		logger.Warn("no JWT secret configured: generated one for the embedded database; set ORGD_JWT_SECRET_FILE in production", "file", path)
	} else if err != nil {
		return nil, fmt.Errorf("read JWT secret: %w", err)
	}
	return secretLines(b, path)
}

// writeNew creates the file path holding b, mode 0600, whole or not at all:
// a crash while writing must not leave an empty secret that every later
// start refuses. It fails if path exists.
func writeNew(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(b)
	serr := f.Sync()
	if cerr := f.Close(); werr != nil || serr != nil || cerr != nil {
		return errors.Join(werr, serr, cerr)
	}
	err = os.Link(f.Name(), path) // unlike a rename, never replaces a file another process wrote
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	// A file system without hard links: create it in place instead.
	g, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr = g.Write(b)
	if err := errors.Join(werr, g.Sync(), g.Close()); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// secretLines returns the non-empty lines of a secret file, each checked.
func secretLines(b []byte, source string) ([][]byte, error) {
	var out [][]byte
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		s, err := checkSecret([]byte(line), source)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: holds no JWT secret", source)
	}
	return out, nil
}

func checkSecret(b []byte, source string) ([]byte, error) {
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, fmt.Errorf("%s: the JWT secret holds NUL bytes (a file a crash left zero-filled?)", source)
	}
	if len(b) < auth.MinSecretLen {
		return nil, fmt.Errorf("%s: the JWT secret must be at least %d bytes", source, auth.MinSecretLen)
	}
	return b, nil
}

// readSecretFile reads the file that the setting names. Its error does not
// quote the setting's value: given the secret itself by mistake, in place of
// a file's path, it would print the secret.
func readSecretFile(path, setting string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: the file it names cannot be read (%v); it takes a file's path, not the secret itself", setting, err)
	}
	return b, nil
}
