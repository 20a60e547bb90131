package main

import "testing"

func TestImageCatalog(t *testing.T) {
	c := imageCatalog{patterns: []string{"ghcr.io/bizra/node:v*", "127.0.0.1:*/*"}}
	for image, want := range map[string]bool{
		"ghcr.io/bizra/node:v2.2.0-rc1":       true,
		"ghcr.io/bizra/node:does-not-exist":   false,
		"ghcr.io/other/node:v1":               false,
		"127.0.0.1:5000/bizra/node:v1":        true,
		"127.0.0.1:5000/bizra/node@sha256:ab": true,
	} {
		if got := c.has(image); got != want {
			t.Errorf("has(%q) = %v, want %v", image, got, want)
		}
	}
	if !(imageCatalog{}).has("anything") {
		t.Error("an empty catalog must let every image be pulled")
	}
}
