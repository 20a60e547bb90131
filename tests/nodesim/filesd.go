package main

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"path/filepath"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// metricsPortName is the container port a pod declares to be scraped, as the ServiceMonitor
// selects it.
const metricsPortName = "rust-metrics"

// scrapeTarget is one entry of a Prometheus file_sd file.
type scrapeTarget struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// scrapeTargetOf gives the Prometheus target of a pod that declares a metrics port, labelled as
// the Prometheus Operator labels a ServiceMonitor's targets (namespace, pod, job) plus the pod's
// rollout track and version.
func scrapeTargetOf(pod *corev1.Pod) (scrapeTarget, bool) {
	if pod.Status.PodIP == "" {
		return scrapeTarget{}, false
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != metricsPortName {
				continue
			}
			labels := map[string]string{"namespace": pod.Namespace, "pod": pod.Name, "job": pod.Labels["app"]}
			for _, l := range []string{"track", "version"} {
				if v := pod.Labels[l]; v != "" {
					labels[l] = v
				}
			}
			return scrapeTarget{Targets: []string{pod.Status.PodIP + ":" + itoa(p.ContainerPort)}, Labels: labels}, true
		}
	}
	return scrapeTarget{}, false
}

func itoa(port int32) string {
	b, _ := json.Marshal(port)
	return string(b)
}

// writeFileSD keeps path up to date with the scrape targets of all known pods, rewriting it
// atomically at most once a second when something changed.
func (r *registry) writeFileSD(ctx context.Context, path string) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		r.mu.RLock()
		targets := make([]scrapeTarget, 0, len(r.targets))
		for _, t := range r.targets {
			targets = append(targets, t)
		}
		r.mu.RUnlock()
		sort.Slice(targets, func(i, j int) bool { return targets[i].Targets[0] < targets[j].Targets[0] })
		data, err := json.MarshalIndent(targets, "", "  ")
		if err != nil || string(data) == last {
			continue
		}
		tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			log.Printf("file_sd: %v", err)
			continue
		}
		if err := os.Rename(tmp, path); err != nil {
			log.Printf("file_sd: %v", err)
			continue
		}
		last = string(data)
	}
}
