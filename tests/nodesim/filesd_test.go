package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestScrapeTargetOf(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "testnet", Name: "bizra-apex-1", Labels: map[string]string{"app": "bizra-apex", "track": "canary", "version": "v2"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "n", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "rust-metrics", ContainerPort: 9464}}}}},
		Status:     corev1.PodStatus{PodIP: "10.244.0.7"},
	}
	target, ok := scrapeTargetOf(pod)
	if !ok || target.Targets[0] != "10.244.0.7:9464" {
		t.Fatalf("target = %+v, %v", target, ok)
	}
	want := map[string]string{"namespace": "testnet", "pod": "bizra-apex-1", "job": "bizra-apex", "track": "canary", "version": "v2"}
	for k, v := range want {
		if target.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, target.Labels[k], v)
		}
	}
	pod.Spec.Containers[0].Ports = pod.Spec.Containers[0].Ports[:1]
	if _, ok := scrapeTargetOf(pod); ok {
		t.Error("a pod without a rust-metrics port is not a target")
	}
}
