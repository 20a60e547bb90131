package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// criLog appends lines in the CRI container log format that kwok (like a kubelet) reads for
// `kubectl logs`, including --since and --timestamps: "<RFC3339Nano> stdout F <line>".
type criLog struct {
	mu   sync.Mutex
	path string
	file *os.File
}

func openCRILog(path string) (*criLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &criLog{path: path, file: f}, nil
}

func (l *criLog) write(at time.Time, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	stream := "stdout"
	upper := strings.ToUpper(line)
	if strings.HasPrefix(upper, "ERROR") || strings.HasPrefix(upper, "FATAL") || strings.HasPrefix(line, "panic") {
		stream = "stderr"
	}
	for _, part := range strings.Split(strings.TrimRight(line, "\n"), "\n") {
		fmt.Fprintf(l.file, "%s %s F %s\n", at.UTC().Format(time.RFC3339Nano), stream, part)
	}
}

// flood appends about mib megabytes of INFO lines, as a node logging at debug level does.
func (l *criLog) flood(at time.Time, mib int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	stamp := at.UTC().Format(time.RFC3339Nano)
	line := fmt.Sprintf("%s stdout F DEBUG bizra::p2p: gossip message from peer 12D3KooWxyz relayed to 8 peers size=%d\n", stamp, 1024)
	w := bufio.NewWriterSize(l.file, 1<<20)
	for written := 0; written < mib<<20; written += len(line) {
		w.WriteString(line)
	}
	w.Flush()
}

func (l *criLog) close(remove bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.file.Close()
	if remove {
		os.Remove(l.path)
	}
}
