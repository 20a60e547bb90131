package main

import (
	"strconv"
	"strings"
	"time"
)

// Annotations on a pod steer what the simulator does for it. Tests flip them with
// `kubectl annotate`; a Deployment can also set them in its pod template.
const (
	annotationPrefix = "sim.bizra.dev/"
	// Comma-separated metric family names left out of /metrics.
	annDropMetrics = annotationPrefix + "drop-metrics"
	// "false": /ready answers 503 and the pod's Ready condition turns False.
	annReady = annotationPrefix + "ready"
	// "false": /health answers 500.
	annHealthy = annotationPrefix + "healthy"
	// Fraction (0..1) of the RPC requests a pod serves that fail with HTTP 500.
	annErrorRatio = annotationPrefix + "error-ratio"
	// Typical RPC latency in milliseconds (default 20).
	annLatencyMs = annotationPrefix + "latency-ms"
	// Typical finality check duration in milliseconds (default 0.3).
	annFinalityMs = annotationPrefix + "finality-ms"
	// PoI generations and verifications per second (defaults 12000 and 6000).
	annPoIGenerateRate = annotationPrefix + "poi-generate-rate"
	annPoIVerifyRate   = annotationPrefix + "poi-verify-rate"
	// A log line written once each time the value changes (e.g. "ERROR consensus: fork detected").
	annLogLine = annotationPrefix + "log-line"
	// RFC 3339 time stamped on that line instead of now, to place it in the past.
	annLogAt = annotationPrefix + "log-at"
	// "true": /metrics answers with text that is not valid Prometheus exposition.
	annMetricsMalformed = annotationPrefix + "metrics-malformed"
	// Megabytes of INFO lines appended to the log once each time the value changes.
	annLogFloodMiB = annotationPrefix + "log-flood-mib"
	// Restart count reported for every container, with the last termination's reason.
	annRestarts          = annotationPrefix + "restarts"
	annTerminationReason = annotationPrefix + "termination-reason"
	// A container waiting reason to report instead of running (CrashLoopBackOff, ImagePullBackOff, ...).
	annWaitingReason = annotationPrefix + "waiting-reason"
)

// Behaviour is what one pod does, parsed from its annotations with defaults for a healthy node.
type Behaviour struct {
	DropMetrics       map[string]bool
	Ready             bool
	Healthy           bool
	ErrorRatio        float64
	Latency           time.Duration
	Finality          time.Duration
	PoIGenerateRate   float64
	PoIVerifyRate     float64
	MetricsMalformed  bool
	LogFloodMiB       int
	LogLine           string
	LogAt             time.Time
	Restarts          int32
	TerminationReason string
	WaitingReason     string
	WaitingMessage    string
}

func defaultBehaviour() Behaviour {
	return Behaviour{
		DropMetrics:     map[string]bool{},
		Ready:           true,
		Healthy:         true,
		Latency:         20 * time.Millisecond,
		Finality:        300 * time.Microsecond,
		PoIGenerateRate: 12000,
		PoIVerifyRate:   6000,
	}
}

func parseBehaviour(annotations map[string]string) Behaviour {
	b := defaultBehaviour()
	for _, name := range strings.Split(annotations[annDropMetrics], ",") {
		if name = strings.TrimSpace(name); name != "" {
			b.DropMetrics[name] = true
		}
	}
	b.Ready = annotations[annReady] != "false"
	b.Healthy = annotations[annHealthy] != "false"
	b.ErrorRatio = clamp01(floatOr(annotations[annErrorRatio], 0))
	b.Latency = millis(annotations[annLatencyMs], b.Latency)
	b.Finality = millis(annotations[annFinalityMs], b.Finality)
	b.PoIGenerateRate = floatOr(annotations[annPoIGenerateRate], b.PoIGenerateRate)
	b.PoIVerifyRate = floatOr(annotations[annPoIVerifyRate], b.PoIVerifyRate)
	b.MetricsMalformed = annotations[annMetricsMalformed] == "true"
	if n, err := strconv.Atoi(annotations[annLogFloodMiB]); err == nil && n > 0 {
		b.LogFloodMiB = n
	}
	b.LogLine = annotations[annLogLine]
	if at, err := time.Parse(time.RFC3339, annotations[annLogAt]); err == nil {
		b.LogAt = at
	}
	if n, err := strconv.ParseInt(annotations[annRestarts], 10, 32); err == nil && n >= 0 {
		b.Restarts = int32(n)
	}
	b.TerminationReason = annotations[annTerminationReason]
	if b.TerminationReason == "" {
		b.TerminationReason = "Error"
	}
	b.WaitingReason = annotations[annWaitingReason]
	return b
}

func floatOr(s string, fallback float64) float64 {
	if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && v >= 0 {
		return v
	}
	return fallback
}

func clamp01(v float64) float64 {
	if v > 1 {
		return 1
	}
	return v
}

func millis(s string, fallback time.Duration) time.Duration {
	if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && v >= 0 {
		return time.Duration(v * float64(time.Millisecond))
	}
	return fallback
}
