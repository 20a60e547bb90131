package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"time"
)

const maxSimulatedLatency = 5 * time.Second

// podFor finds the pod whose IP the client dialed. An address no pod holds (yet) behaves as a
// healthy node with default settings.
func (r *registry) podFor(req *http.Request) (*simPod, Behaviour) {
	if addr, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, _, err := net.SplitHostPort(addr.String()); err == nil {
			if p, found := r.lookup(host); found {
				p.metrics.mu.Lock()
				b := p.behaviour
				p.metrics.mu.Unlock()
				return p, b
			}
		}
	}
	return nil, defaultBehaviour()
}

func (r *registry) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, req *http.Request) {
		if _, b := r.podFor(req); !b.Healthy {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, req *http.Request) {
		if _, b := r.podFor(req); !b.Ready || b.WaitingReason != "" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

func (r *registry) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/metrics" {
			http.NotFound(w, req)
			return
		}
		p, b := r.podFor(req)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if b.MetricsMalformed {
			fmt.Fprintln(w, "# TYPE bizra_finality_check_seconds histogram")
			fmt.Fprintln(w, "bizra_finality_check_seconds_bucket{le=\"0.001\" 12")
			return
		}
		if p == nil {
			newPodMetrics(time.Now()).write(w, time.Now(), b, nodeInfo{version: "unknown"})
			return
		}
		p.metrics.write(w, time.Now(), b, p.nodeInfo())
	})
}

// rpcHandler answers any request on the RPC port after the pod's latency, failing the configured
// share of requests, and counts it: the pod's RPC traffic is the requests it really serves.
func (r *registry) rpcHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p, b := r.podFor(req)
		latency := min(b.Latency, maxSimulatedLatency)
		time.Sleep(latency)
		fail := false
		if p != nil {
			// Counted as the pod's latency, not the sleep's wall time: on a busy 2-core test
			// machine the scheduler's delay around the sleep would make whichever track has
			// fewer requests look slower at p99, which is the host, not the node.
			fail = p.metrics.recordRequest(b, latency)
		}
		w.Header().Set("Content-Type", "application/json")
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintln(w, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"simulated failure"},"id":1}`)
			return
		}
		fmt.Fprintln(w, `{"jsonrpc":"2.0","result":"ok","id":1}`)
	})
}

// views describes every pod, read under the locks that guard each field.
func (r *registry) views() []podView {
	r.mu.RLock()
	defer r.mu.RUnlock()
	views := make([]podView, 0, len(r.byUID))
	for _, p := range r.byUID {
		p.metrics.mu.Lock()
		ready := p.behaviour.Ready && p.behaviour.WaitingReason == ""
		p.metrics.mu.Unlock()
		info := p.nodeInfo()
		views = append(views, podView{p.namespace, p.name, p.ip, info.version, info.track, ready})
	}
	return views
}

type podView struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	IP        string `json:"ip"`
	Version   string `json:"version"`
	Track     string `json:"track"`
	Ready     bool   `json:"ready"`
}

// controlHandler is the simulator's own API on loopback: liveness for the harness, and what it
// knows about pods, for debugging.
func (r *registry) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/pods", func(w http.ResponseWriter, _ *http.Request) {
		views := r.views()
		sort.Slice(views, func(i, j int) bool {
			return views[i].Namespace+"/"+views[i].Name < views[j].Namespace+"/"+views[j].Name
		})
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(views)
	})
	return mux
}
