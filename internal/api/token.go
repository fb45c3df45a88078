package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// LoadToken reads the admin token file, creating it (mode 0600, 32 random
// bytes in hex) when absent. A token file readable by others is refused: it
// is a password.
func LoadToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		buf := make([]byte, 32)
		if _, err := rand.Read(buf); err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		tok := hex.EncodeToString(buf)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		if _, err := f.WriteString(tok + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("admin token: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		return []byte(tok), nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("admin token: %s has mode %v; it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return nil, fmt.Errorf("admin token: %s holds %d characters, want at least 16", path, len(tok))
	}
	return []byte(tok), nil
}
