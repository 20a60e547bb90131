package main

import (
	"reflect"
	"testing"
	"time"
)

func TestNoAnnotationsIsAHealthyNode(t *testing.T) {
	got := parseBehaviour(nil)
	want := defaultBehaviour()
	want.TerminationReason = "Error"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseBehaviour(nil) = %+v, want %+v", got, want)
	}
}

func TestEveryAnnotationIsRead(t *testing.T) {
	at := "2026-12-07T10:00:00Z"
	got := parseBehaviour(map[string]string{
		annDropMetrics:       " bizra_poi_verify_seconds, ,bizra_errors_total",
		annReady:             "false",
		annHealthy:           "false",
		annErrorRatio:        "0.25",
		annLatencyMs:         "250",
		annFinalityMs:        "1.5",
		annPoIGenerateRate:   "100",
		annPoIVerifyRate:     "50",
		annLogLine:           "ERROR consensus: fork detected",
		annLogAt:             at,
		annMetricsMalformed:  "true",
		annLogFloodMiB:       "3",
		annRestarts:          "4",
		annTerminationReason: "OOMKilled",
		annWaitingReason:     "CrashLoopBackOff",
	})
	logAt, _ := time.Parse(time.RFC3339, at)
	want := Behaviour{
		DropMetrics:       map[string]bool{"bizra_poi_verify_seconds": true, "bizra_errors_total": true},
		Ready:             false,
		Healthy:           false,
		ErrorRatio:        0.25,
		Latency:           250 * time.Millisecond,
		Finality:          1500 * time.Microsecond,
		PoIGenerateRate:   100,
		PoIVerifyRate:     50,
		MetricsMalformed:  true,
		LogFloodMiB:       3,
		LogLine:           "ERROR consensus: fork detected",
		LogAt:             logAt,
		Restarts:          4,
		TerminationReason: "OOMKilled",
		WaitingReason:     "CrashLoopBackOff",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestBadValuesFallBackToTheDefaults(t *testing.T) {
	defaults := defaultBehaviour()
	got := parseBehaviour(map[string]string{
		annReady:            "no",
		annErrorRatio:       "lots",
		annLatencyMs:        "-1",
		annFinalityMs:       "soon",
		annPoIGenerateRate:  "NaNx",
		annLogAt:            "yesterday",
		annMetricsMalformed: "yes",
		annLogFloodMiB:      "-2",
		annRestarts:         "-1",
	})
	if !got.Ready {
		t.Error("only \"false\" makes a pod unready")
	}
	if got.Latency != defaults.Latency ||
		got.Finality != defaults.Finality || got.PoIGenerateRate != defaults.PoIGenerateRate {
		t.Errorf("bad numbers must keep the defaults: %+v", got)
	}
	if got.ErrorRatio != 0 || !got.LogAt.IsZero() || got.MetricsMalformed || got.LogFloodMiB != 0 || got.Restarts != 0 {
		t.Errorf("bad values must be ignored: %+v", got)
	}
}

func TestAnErrorRatioAboveOneIsClamped(t *testing.T) {
	if got := parseBehaviour(map[string]string{annErrorRatio: "7"}).ErrorRatio; got != 1 {
		t.Errorf("error ratio 7 read as %v, want 1", got)
	}
}
