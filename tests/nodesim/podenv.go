package main

import (
	"context"
	"log"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	execsGVR      = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}
)

// containerEnv resolves a container's environment as the kubelet does when it starts it:
// envFrom ConfigMaps first, then env (literal values, ConfigMap keys and pod fields). Secrets are
// left out. Like a real container's, the result does not change when a ConfigMap changes later.
func (r *registry) containerEnv(ctx context.Context, pod *corev1.Pod, c corev1.Container) []any {
	values := map[string]string{}
	order := []string{}
	set := func(name, value string) {
		if _, seen := values[name]; !seen {
			order = append(order, name)
		}
		values[name] = value
	}
	configMaps := map[string]map[string]string{}
	configMap := func(name string) map[string]string {
		if data, ok := configMaps[name]; ok {
			return data
		}
		data := map[string]string{}
		cm, err := r.client.Resource(configMapsGVR).Namespace(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			found, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			data = found
		}
		configMaps[name] = data
		return data
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			for k, v := range configMap(from.ConfigMapRef.Name) {
				set(from.Prefix+k, v)
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, e.Value)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			if v, ok := configMap(e.ValueFrom.ConfigMapKeyRef.Name)[e.ValueFrom.ConfigMapKeyRef.Key]; ok {
				set(e.Name, v)
			}
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				set(e.Name, pod.Name)
			case "metadata.namespace":
				set(e.Name, pod.Namespace)
			case "spec.nodeName":
				set(e.Name, pod.Spec.NodeName)
			case "status.podIP":
				set(e.Name, pod.Status.PodIP)
			}
		}
	}
	// Unstructured content holds JSON's types only ([]any, not []map[string]any).
	envs := make([]any, 0, len(order))
	for _, name := range order {
		envs = append(envs, map[string]any{"name": name, "value": values[name]})
	}
	return envs
}

// registerExec lets `kubectl exec` run commands "in" the pod: kwok runs them on the host with the
// container's environment, resolved once at start as a kubelet would.
func (r *registry) registerExec(ctx context.Context, pod *corev1.Pod) {
	execs := []any{}
	for _, c := range pod.Spec.Containers {
		execs = append(execs, map[string]any{
			"containers": []any{c.Name},
			"local":      map[string]any{"workDir": "/", "envs": r.containerEnv(ctx, pod, c)},
		})
	}
	exec := kwokObjectOf(pod, "Exec", map[string]any{"execs": execs})
	if _, err := r.client.Resource(execsGVR).Namespace(pod.Namespace).Create(ctx, exec, metav1.CreateOptions{}); err != nil {
		log.Printf("cannot register exec of %s/%s with kwok: %v", pod.Namespace, pod.Name, err)
	}
}
