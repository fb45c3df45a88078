package home

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyBytes is the length of a generated heartbeat key.
const KeyBytes = 32

// LoadKey reads the cluster's heartbeat key: hex text, at least 16 bytes of
// key, in a file nobody but its owner may read.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s:0: no heartbeat key (create it with `farmctl cluster genkey` and copy it to every node)", path)
		}
		return nil, fmt.Errorf("%s:0: %w", path, unwrapPath(err))
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s:0: %w", path, unwrapPath(err))
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s:0: key file has mode %v: it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s:1: key is not hex text: %v", path, err)
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("%s:1: key holds %d bytes, want at least 16", path, len(key))
	}
	return key, nil
}

// GenerateKey writes a fresh random key to path (mode 0600). It refuses to
// replace an existing key unless force: a changed key splits the farm until
// every node has the new one.
func GenerateKey(path string, force bool) error {
	buf := make([]byte, KeyBytes)
	if _, err := rand.Read(buf); err != nil {
		return fmt.Errorf("genkey: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("genkey: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("genkey: %s exists; give --force to replace it (every node needs the new key)", path)
	}
	if err != nil {
		return fmt.Errorf("genkey: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("genkey: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(buf) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("genkey: %w", err)
	}
	return f.Close()
}
