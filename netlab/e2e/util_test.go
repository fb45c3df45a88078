package e2e

import (
	"context"
	"strings"
	"sync"
	"time"
)

// stringsBuilder is a strings.Builder safe for exec's copying goroutines.
type stringsBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *stringsBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *stringsBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
