package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/fake"
)

// The informer's handler updates a pod (its version, its behaviour, its log) while the metrics
// and control servers and the heartbeat read it: under `go test -race` any field read without
// the lock that guards it fails this test.
func TestPodsAreReadWhileTheInformerUpdatesThem(t *testing.T) {
	execs := schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}
	client := fake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{podsGVR: "PodList", logsGVR: "LogsList", execs: "ExecList"})
	r := newRegistry(client, t.TempDir(), imageCatalog{})
	const ip = "10.244.0.5"
	pod := func(i int) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{
				"name": "p", "namespace": "ns", "uid": "u-1",
				"labels":      map[string]any{"version": fmt.Sprintf("v%d", i), "track": "stable"},
				"annotations": map[string]any{annLogLine: fmt.Sprintf("INFO line %d", i)},
			},
			"spec":   map[string]any{"nodeName": "node-1", "containers": []any{map[string]any{"name": "c", "image": "node:v1"}}},
			"status": map[string]any{"phase": "Running", "podIP": ip},
		}}
	}
	ctx := context.Background()
	r.observe(ctx, pod(0))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i < 200; i++ {
			r.observe(ctx, pod(i))
		}
	}()
	metrics, control := r.metricsHandler(), r.controlHandler()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey,
			&net.TCPAddr{IP: net.ParseIP(ip), Port: 9464}))
		scrape := httptest.NewRecorder()
		metrics.ServeHTTP(scrape, req)
		if scrape.Code != http.StatusOK {
			t.Fatalf("/metrics answered %d", scrape.Code)
		}
		pods := httptest.NewRecorder()
		control.ServeHTTP(pods, httptest.NewRequest(http.MethodGet, "/pods", nil))
		r.heartbeat(time.Now())
	}
	if got := r.views()[0].Version; got != "v199" {
		t.Errorf("the pod reports version %q after the last update, want v199", got)
	}
}
