package main

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"
)

// imageCatalog is the simulated registry: the image patterns that can be pulled. An empty catalog
// (no file given) lets every image be pulled.
type imageCatalog struct {
	patterns []string
}

func loadImageCatalog(file string) (imageCatalog, error) {
	if file == "" {
		return imageCatalog{}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return imageCatalog{}, fmt.Errorf("image catalog: %w", err)
	}
	defer f.Close()
	var c imageCatalog
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := path.Match(line, ""); err != nil {
			return imageCatalog{}, fmt.Errorf("image catalog: bad pattern %q: %w", line, err)
		}
		c.patterns = append(c.patterns, line)
	}
	return c, scanner.Err()
}

// has says whether image can be pulled. '*' in a pattern matches any run of characters, '/'
// included, so "127.0.0.1:*/*" covers every image of a local registry.
func (c imageCatalog) has(image string) bool {
	if len(c.patterns) == 0 {
		return true
	}
	for _, pattern := range c.patterns {
		if globMatch(pattern, image) {
			return true
		}
	}
	return false
}

func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
