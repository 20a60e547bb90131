package main

import "strings"

// The simulator's copy of the plugin's image-reference rule (policy-wasm/src/image_ref.rs) for
// the one thing it needs: the `version` a pod without a `version` label reports. Both are checked
// against the same cases in tests/vectors/image-references.json.

const maxLabelLen = 63

// imageVersionLabel is the image's tag, else "sha256-" and the first 12 digits of its digest,
// else "latest", cut to a valid label value.
func imageVersionLabel(image string) string {
	name, digest, _ := strings.Cut(image, "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	}
	if label := labelValue(tag); label != "" {
		return label
	}
	if digest != "" {
		algorithm, hex, found := strings.Cut(digest, ":")
		if !found {
			algorithm, hex = "sha256", digest
		}
		algorithm = strings.Map(func(r rune) rune {
			if isASCIIAlnum(r) {
				return r
			}
			return '-'
		}, algorithm)
		if len(hex) > 12 {
			hex = hex[:12]
		}
		return labelValue(algorithm + "-" + hex)
	}
	return "latest"
}

func labelValue(text string) string {
	runes := []rune(text)
	if len(runes) > maxLabelLen {
		runes = runes[:maxLabelLen]
	}
	return strings.TrimFunc(string(runes), func(r rune) bool { return !isASCIIAlnum(r) })
}

func isASCIIAlnum(r rune) bool {
	return r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
}
