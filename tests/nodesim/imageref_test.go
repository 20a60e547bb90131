package main

import (
	"encoding/json"
	"os"
	"testing"
)

type imageVector struct {
	Image        string  `json:"image"`
	VersionLabel *string `json:"versionLabel"`
	Error        *string `json:"error"`
}

func TestImageVersionLabelMatchesThePluginsVectors(t *testing.T) {
	data, err := os.ReadFile("../vectors/image-references.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []imageVector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range vectors {
		if v.Error != nil {
			continue
		}
		if v.VersionLabel == nil {
			t.Fatalf("%s: a valid vector needs a versionLabel", v.Image)
		}
		if got := imageVersionLabel(v.Image); got != *v.VersionLabel {
			t.Errorf("%s: version %q, the plugin says %q", v.Image, got, *v.VersionLabel)
		}
		checked++
	}
	if checked < 15 {
		t.Fatalf("only %d vectors checked", checked)
	}
}
