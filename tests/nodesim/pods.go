package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

var (
	podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	logsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}
)

// simPod is the simulator's view of one pod. The informer's handler writes it while the
// servers and the heartbeat read it: ip is guarded by the registry's mu, behaviour by
// metrics.mu, info and log by mu.
type simPod struct {
	namespace, name string
	uid             types.UID
	ip              string
	behaviour       Behaviour
	metrics         *podMetrics
	// Only the informer's handler (one goroutine) touches these two.
	loggedLine string
	floodedMiB int

	mu   sync.Mutex
	info nodeInfo
	log  *criLog
	// What the load generator routes by: the pod's labels and its Ready condition.
	labels map[string]string
	ready  bool
}

// nodeInfo returns the version and track the pod reports.
func (p *simPod) nodeInfo() nodeInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// logger returns the pod's log, nil until it is open.
func (p *simPod) logger() *criLog {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log
}

type registry struct {
	mu      sync.RWMutex
	byIP    map[string]*simPod
	byUID   map[types.UID]*simPod
	client  dynamic.Interface
	logDir  string
	catalog imageCatalog
	// Prometheus scrape targets by pod UID (see filesd.go).
	targets map[types.UID]scrapeTarget
}

func newRegistry(client dynamic.Interface, logDir string, catalog imageCatalog) *registry {
	return &registry{byIP: map[string]*simPod{}, byUID: map[types.UID]*simPod{}, client: client, logDir: logDir, catalog: catalog, targets: map[types.UID]scrapeTarget{}}
}

func (r *registry) lookup(ip string) (*simPod, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.byIP[ip]
	return p, ok
}

func (r *registry) snapshot() []*simPod {
	r.mu.RLock()
	defer r.mu.RUnlock()
	pods := make([]*simPod, 0, len(r.byUID))
	for _, p := range r.byUID {
		pods = append(pods, p)
	}
	return pods
}

// run watches every pod in the cluster until ctx ends.
func (r *registry) run(ctx context.Context) {
	factory := dynamicinformer.NewDynamicSharedInformerFactory(r.client, 10*time.Minute)
	informer := factory.ForResource(podsGVR).Informer()
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observe(ctx, obj) },
		UpdateFunc: func(_, obj any) { r.observe(ctx, obj) },
		DeleteFunc: func(obj any) { r.forget(obj) },
	})
	factory.Start(ctx.Done())
	go r.heartbeatLogs(ctx)
	<-ctx.Done()
}

func toPod(obj any) (*corev1.Pod, bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	var pod corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &pod); err != nil {
		log.Printf("cannot convert pod %s/%s: %v", u.GetNamespace(), u.GetName(), err)
		return nil, false
	}
	return &pod, true
}

func (r *registry) observe(ctx context.Context, obj any) {
	pod, ok := toPod(obj)
	// A pod is ours once scheduled: its logs are registered before it runs, so `kubectl logs`
	// works as soon as the pod is Ready.
	if !ok || pod.Spec.HostNetwork || pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		return
	}
	behaviour := parseBehaviour(pod.Annotations)

	r.mu.Lock()
	p, known := r.byUID[pod.UID]
	if !known {
		p = &simPod{namespace: pod.Namespace, name: pod.Name, uid: pod.UID, metrics: newPodMetrics(time.Now())}
		r.byUID[pod.UID] = p
	}
	p.mu.Lock()
	p.info = nodeInfo{version: podVersion(pod), track: pod.Labels["track"]}
	p.labels = pod.Labels
	p.ready = podReady(pod)
	p.mu.Unlock()
	if p.ip != pod.Status.PodIP {
		delete(r.byIP, p.ip)
		p.ip = pod.Status.PodIP
	}
	if p.ip != "" {
		r.byIP[p.ip] = p
	}
	if target, ok := scrapeTargetOf(pod); ok {
		r.targets[pod.UID] = target
	} else {
		delete(r.targets, pod.UID)
	}
	p.metrics.mu.Lock()
	// Counters keep the old rates up to now; the new behaviour applies from here on.
	p.metrics.advance(time.Now(), p.behaviour)
	p.behaviour = behaviour
	p.metrics.mu.Unlock()
	r.mu.Unlock()

	if !known {
		r.startLogging(ctx, p, pod)
		r.registerExec(ctx, pod)
	}
	podLog := p.logger()
	if podLog != nil && behaviour.LogLine != "" && behaviour.LogLine != p.loggedLine {
		at := behaviour.LogAt
		if at.IsZero() {
			at = time.Now()
		}
		podLog.write(at, behaviour.LogLine)
		p.loggedLine = behaviour.LogLine
	}
	if podLog != nil && behaviour.LogFloodMiB > 0 && behaviour.LogFloodMiB != p.floodedMiB {
		podLog.flood(time.Now(), behaviour.LogFloodMiB)
		p.floodedMiB = behaviour.LogFloodMiB
	}
	r.reflectStatus(ctx, pod, behaviour)
}

// podReady says whether the pod's Ready condition is True, as the mesh's endpoints count it.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (r *registry) forget(obj any) {
	pod, ok := toPod(obj)
	if !ok {
		return
	}
	r.mu.Lock()
	delete(r.targets, pod.UID)
	p, known := r.byUID[pod.UID]
	if known {
		delete(r.byUID, pod.UID)
		if r.byIP[p.ip] == p {
			delete(r.byIP, p.ip)
		}
	}
	r.mu.Unlock()
	if known {
		if podLog := p.logger(); podLog != nil {
			podLog.close(true)
		}
	}
}

// podVersion is the rollout version of a pod: its `version` label, else what the plugin would
// derive from its image.
func podVersion(pod *corev1.Pod) string {
	if v := pod.Labels["version"]; v != "" {
		return v
	}
	if len(pod.Spec.Containers) > 0 {
		return imageVersionLabel(pod.Spec.Containers[0].Image)
	}
	return "unknown"
}

// startLogging opens the pod's log file, writes the node's start-up lines and registers the file
// with kwok through a Logs object owned by the pod, so it goes away with the pod.
func (r *registry) startLogging(ctx context.Context, p *simPod, pod *corev1.Pod) {
	path := filepath.Join(r.logDir, pod.Namespace, fmt.Sprintf("%s_%s.log", pod.Name, pod.UID))
	l, err := openCRILog(path)
	if err != nil {
		log.Printf("cannot open log for %s/%s: %v", pod.Namespace, pod.Name, err)
		return
	}
	now := time.Now()
	l.write(now, fmt.Sprintf("INFO bizra::node: starting bizra-apex version=%s pod=%s", p.nodeInfo().version, pod.Name))
	l.write(now, "INFO bizra::metrics: serving Prometheus metrics on 0.0.0.0:9464")
	l.write(now, "INFO bizra::rpc: listening on 0.0.0.0:9944 (ws 9945, p2p 30333)")
	p.mu.Lock()
	p.log = l
	p.mu.Unlock()

	logs := kwokObjectOf(pod, "Logs", map[string]any{
		"logs": []any{map[string]any{"logsFile": path, "follow": true}},
	})
	_, err = r.client.Resource(logsGVR).Namespace(pod.Namespace).Create(ctx, logs, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, getErr := r.client.Resource(logsGVR).Namespace(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if getErr == nil {
			logs.SetResourceVersion(existing.GetResourceVersion())
			_, err = r.client.Resource(logsGVR).Namespace(pod.Namespace).Update(ctx, logs, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		log.Printf("cannot register logs of %s/%s with kwok: %v", pod.Namespace, pod.Name, err)
	}
}

// kwokObjectOf builds a kwok debugging object (Logs, Exec) for a pod: named like it, in its
// namespace, and owned by it so that it goes away with the pod.
func kwokObjectOf(pod *corev1.Pod, kind string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       kind,
		"metadata": map[string]any{
			"name":      pod.Name,
			"namespace": pod.Namespace,
			"ownerReferences": []any{map[string]any{
				"apiVersion": "v1", "kind": "Pod", "name": pod.Name, "uid": string(pod.UID),
			}},
		},
		"spec": spec,
	}}
}

// heartbeatLogs writes a line per pod every few seconds, as a running node does.
func (r *registry) heartbeatLogs(ctx context.Context) {
	ticker := time.NewTicker(10 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			r.heartbeat(now)
		}
	}
}

// heartbeat writes every pod's heartbeat line.
func (r *registry) heartbeat(now time.Time) {
	for _, p := range r.snapshot() {
		podLog := p.logger()
		if podLog == nil {
			continue
		}
		p.metrics.mu.Lock()
		height := int64(p.metrics.rounds / 2)
		p.metrics.mu.Unlock()
		podLog.write(now, fmt.Sprintf("INFO bizra::consensus: finalized block height=%d", height))
	}
}

// reflectStatus reports the annotated readiness, restarts and waiting reason in the pod's status,
// the way a kubelet reports what its probes and the runtime saw. It writes only on a difference.
func (r *registry) reflectStatus(ctx context.Context, pod *corev1.Pod, b Behaviour) {
	if pod.Status.Phase != corev1.PodRunning {
		return
	}
	if b.WaitingReason == "" {
		for _, c := range pod.Spec.Containers {
			if !r.catalog.has(c.Image) {
				b.WaitingReason = "ImagePullBackOff"
				b.WaitingMessage = fmt.Sprintf("Back-off pulling image %q: not found in the registry", c.Image)
				break
			}
		}
	}
	ready := b.Ready && b.WaitingReason == ""
	status := pod.Status.DeepCopy()
	readyStatus := corev1.ConditionFalse
	if ready {
		readyStatus = corev1.ConditionTrue
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if (c.Type == corev1.PodReady || c.Type == corev1.ContainersReady) && c.Status != readyStatus {
			c.Status = readyStatus
			c.LastTransitionTime = now
		}
	}
	for i := range status.ContainerStatuses {
		cs := &status.ContainerStatuses[i]
		cs.Ready = ready
		started := b.WaitingReason == ""
		cs.Started = &started
		if b.Restarts > cs.RestartCount {
			cs.RestartCount = b.Restarts
			exitCode := int32(1)
			if b.TerminationReason == "OOMKilled" {
				exitCode = 137
			}
			cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCode, Reason: b.TerminationReason, StartedAt: pod.CreationTimestamp, FinishedAt: now,
			}}
		}
		switch {
		case b.WaitingReason != "":
			if cs.State.Waiting == nil || cs.State.Waiting.Reason != b.WaitingReason {
				message := b.WaitingMessage
				if message == "" {
					message = "simulated: " + b.WaitingReason
				}
				cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: b.WaitingReason, Message: message,
				}}
			}
		case cs.State.Running == nil:
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		}
	}
	if reflect.DeepEqual(status.Conditions, pod.Status.Conditions) &&
		reflect.DeepEqual(status.ContainerStatuses, pod.Status.ContainerStatuses) {
		return
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"conditions":        status.Conditions,
		"containerStatuses": status.ContainerStatuses,
	}})
	if err != nil {
		log.Printf("cannot encode status patch: %v", err)
		return
	}
	_, err = r.client.Resource(podsGVR).Namespace(pod.Namespace).Patch(
		ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "nodesim"}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		log.Printf("cannot patch status of %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}
