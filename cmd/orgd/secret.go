package main

import (
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

// jwtSecret returns the configured signing secret. Against an external
// database one must be configured; in embedded mode one is generated once and
// kept in the data directory. There is never a built-in default.
func jwtSecret(cfg config, logger *slog.Logger) ([]byte, error) {
	switch {
	case cfg.JWTSecret != "":
		return checkSecret([]byte(cfg.JWTSecret), "ORGD_JWT_SECRET")
	case cfg.JWTSecretFile != "":
		b, err := os.ReadFile(cfg.JWTSecretFile)
		if err != nil {
			return nil, fmt.Errorf("ORGD_JWT_SECRET_FILE: %w", err)
		}
		return checkSecret([]byte(strings.TrimSpace(string(b))), "ORGD_JWT_SECRET_FILE")
	case cfg.MongoURI != "":
		return nil, errors.New("MONGODB_URI is set but no JWT secret is: set ORGD_JWT_SECRET or ORGD_JWT_SECRET_FILE " +
			"(at least 32 bytes, e.g. `openssl rand -hex 32`), the same on every instance, so that tokens stay valid across instances")
	}
	path := filepath.Join(cfg.DataDir, secretFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		b = []byte(hex.EncodeToString(raw))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("write generated JWT secret: %w", err)
		}
		_, werr := f.Write(append(b, '\n'))
		if cerr := f.Close(); werr != nil || cerr != nil {
			return nil, fmt.Errorf("write generated JWT secret: %w", errors.Join(werr, cerr))
		}
		logger.Warn("no JWT secret configured: generated one for the embedded database; set ORGD_JWT_SECRET_FILE in production", "file", path)
	} else if err != nil {
		return nil, fmt.Errorf("read JWT secret: %w", err)
	}
	return checkSecret([]byte(strings.TrimSpace(string(b))), path)
}

func checkSecret(b []byte, source string) ([]byte, error) {
	if len(b) < auth.MinSecretLen {
		return nil, fmt.Errorf("%s: the JWT secret must be at least %d bytes", source, auth.MinSecretLen)
	}
	return b, nil
}
