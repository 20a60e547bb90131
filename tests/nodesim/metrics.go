package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// histogram is a Prometheus histogram with float counts, so synthetic traffic can add fractional
// observations between scrapes without rounding drift.
type histogram struct {
	bounds []float64
	counts []float64 // per bucket, not cumulative; the last entry is +Inf
	sum    float64
	count  float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]float64, len(bounds)+1)}
}

func (h *histogram) observe(value, times float64) {
	if times <= 0 {
		return
	}
	i := sort.SearchFloat64s(h.bounds, value)
	h.counts[i] += times
	h.sum += value * times
	h.count += times
}

// observeSpread records `times` observations around a typical value: half slightly faster, most at
// it, a tail of 4 % at 1.5x and 1 % at 3x. The p99 therefore moves with the typical value.
func (h *histogram) observeSpread(typical float64, times float64) {
	h.observe(typical*0.8, times*0.50)
	h.observe(typical, times*0.45)
	h.observe(typical*1.5, times*0.04)
	h.observe(typical*3, times*0.01)
}

func (h *histogram) write(w io.Writer, name, labels string) {
	cumulative := 0.0
	for i, bound := range h.bounds {
		cumulative += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{%sle=\"%s\"} %s\n", name, labels, formatFloat(bound), formatFloat(cumulative))
	}
	cumulative += h.counts[len(h.bounds)]
	fmt.Fprintf(w, "%s_bucket{%sle=\"+Inf\"} %s\n", name, labels, formatFloat(cumulative))
	trimmed := strings.TrimSuffix(labels, ",")
	fmt.Fprintf(w, "%s_sum%s %s\n", name, braces(trimmed), formatFloat(h.sum))
	fmt.Fprintf(w, "%s_count%s %s\n", name, braces(trimmed), formatFloat(h.count))
}

func braces(labels string) string {
	if labels == "" {
		return ""
	}
	return "{" + labels + "}"
}

func formatFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}

var (
	fastBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1}
	rpcBuckets  = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
)

const (
	familyFinality    = "bizra_finality_check_seconds"
	familyPoIGenerate = "bizra_poi_generate_seconds"
	familyPoIVerify   = "bizra_poi_verify_seconds"
	familyErrors      = "bizra_errors_total"
	familyRequests    = "bizra_rpc_requests_total"
	familyRPCLatency  = "bizra_rpc_request_duration_seconds"
	familyRounds      = "bizra_consensus_rounds_total"
	familyHeight      = "bizra_consensus_height"
	familyNodeInfo    = "bizra_node_info"

	finalityChecksPerSecond = 2.0
	poiGenerateTypical      = 0.00008
	poiVerifyTypical        = 0.00015
)

// podMetrics is the counters of one simulated node. Synthetic traffic is added lazily: each scrape
// first advances the counters by the time elapsed at the pod's configured rates.
type podMetrics struct {
	mu          sync.Mutex
	last        time.Time
	finality    *histogram
	poiGenerate *histogram
	poiVerify   *histogram
	rpcLatency  *histogram
	requests    map[string]float64 // by HTTP code
	errors      map[string]float64 // by error_type
	rounds      float64
	requestSeq  uint64
}

func newPodMetrics(now time.Time) *podMetrics {
	return &podMetrics{
		last:        now,
		finality:    newHistogram(fastBuckets),
		poiGenerate: newHistogram(fastBuckets),
		poiVerify:   newHistogram(fastBuckets),
		rpcLatency:  newHistogram(rpcBuckets),
		requests:    map[string]float64{"200": 0, "500": 0},
		errors:      map[string]float64{"rpc": 0, "consensus": 0},
	}
}

func (m *podMetrics) advance(now time.Time, b Behaviour) {
	dt := now.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.last = now
	m.finality.observeSpread(b.Finality.Seconds(), finalityChecksPerSecond*dt)
	m.rounds += finalityChecksPerSecond * dt
	m.poiGenerate.observeSpread(poiGenerateTypical, b.PoIGenerateRate*dt)
	m.poiVerify.observeSpread(poiVerifyTypical, b.PoIVerifyRate*dt)
}

// recordRequest counts one request (from the load generator, traffic.go, or anyone) and says
// whether it fails. Failures are spread evenly:
// request k fails when floor(k*ratio) steps up, so a ratio of 0.25 fails every fourth request.
func (m *podMetrics) recordRequest(b Behaviour, took time.Duration) (fail bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requestSeq++
	k := float64(m.requestSeq)
	fail = math.Floor(k*b.ErrorRatio) > math.Floor((k-1)*b.ErrorRatio)
	code := "200"
	if fail {
		code = "500"
		m.errors["rpc"]++
	}
	m.requests[code]++
	m.rpcLatency.observe(took.Seconds(), 1)
	return fail
}

type nodeInfo struct {
	version string
	track   string
}

func (m *podMetrics) write(w io.Writer, now time.Time, b Behaviour, info nodeInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now, b)
	family := func(name, kind, help string, body func()) {
		if b.DropMetrics[name] {
			return
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
		body()
	}
	family(familyFinality, "histogram", "Time to check finality of a block.", func() {
		m.finality.write(w, familyFinality, "")
	})
	family(familyPoIGenerate, "histogram", "Time to generate one proof of inference.", func() {
		m.poiGenerate.write(w, familyPoIGenerate, "")
	})
	family(familyPoIVerify, "histogram", "Time to verify one proof of inference.", func() {
		m.poiVerify.write(w, familyPoIVerify, "")
	})
	family(familyErrors, "counter", "Errors by type.", func() {
		for _, t := range sortedKeys(m.errors) {
			fmt.Fprintf(w, "%s{error_type=%q} %s\n", familyErrors, t, formatFloat(m.errors[t]))
		}
	})
	family(familyRequests, "counter", "RPC requests by HTTP status code.", func() {
		for _, code := range sortedKeys(m.requests) {
			fmt.Fprintf(w, "%s{code=%q} %s\n", familyRequests, code, formatFloat(m.requests[code]))
		}
	})
	family(familyRPCLatency, "histogram", "RPC request latency.", func() {
		m.rpcLatency.write(w, familyRPCLatency, "")
	})
	family(familyRounds, "counter", "Consensus rounds completed.", func() {
		fmt.Fprintf(w, "%s %s\n", familyRounds, formatFloat(math.Floor(m.rounds)))
	})
	family(familyHeight, "gauge", "Height of the last finalized block.", func() {
		fmt.Fprintf(w, "%s %s\n", familyHeight, formatFloat(math.Floor(m.rounds/2)))
	})
	family(familyNodeInfo, "gauge", "Build and rollout track of this node.", func() {
		fmt.Fprintf(w, "%s{version=%q,track=%q} 1\n", familyNodeInfo, info.version, info.track)
	})
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
