package main

// The load generator: a client of every bizra-apex Service routed by a VirtualService, standing
// in for the mesh's clients and sidecars. For each VirtualService it sends a fixed total rate of
// RPC requests (sim.bizra.dev/request-rate on the VirtualService, default 100 per second) and
// splits them between the destinations of its first HTTP route by their weights, as Istio's
// sidecars do; a destination's subset is the DestinationRule's labels for it, on top of the
// Service's selector, and only Ready pods receive requests. The routes are read through
// informers, so a weight written by `kubectl bizra promote` applies to the next request. The
// requests are real HTTP requests to the pods' RPC port in the pod network namespace; each pod
// counts what it serves (rpcHandler). A canary at 0 % gets nothing; one at 5 %, 5 in 100.

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

var (
	virtualServicesGVR  = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	destinationRulesGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	servicesGVR         = schema.GroupVersionResource{Version: "v1", Resource: "services"}
)

const (
	// Requests per second a VirtualService's clients send when it does not say.
	defaultRouteRate = 100.0
	// The annotation on a VirtualService that sets its clients' total rate (0: no traffic).
	annRouteRate = annotationPrefix + "request-rate"
	rpcPort      = "9944"
	trafficTick  = 20 * time.Millisecond
)

// destination is one weighted target of a route: a subset of the route's host, or all of it.
type destination struct {
	subset string
	weight int
}

// route is what the generator reads of a VirtualService.
type route struct {
	namespace, host string
	rate            float64
	destinations    []destination
}

// routeOf reads a VirtualService: its first host (a Service of its namespace) and the
// destinations of its first HTTP route.
func routeOf(vs *unstructured.Unstructured) (route, bool) {
	r := route{namespace: vs.GetNamespace(), rate: defaultRouteRate}
	if v, err := strconv.ParseFloat(vs.GetAnnotations()[annRouteRate], 64); err == nil && v >= 0 {
		r.rate = v
	}
	hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
	if len(hosts) == 0 {
		return route{}, false
	}
	r.host = serviceName(hosts[0])
	httpRoutes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	if len(httpRoutes) == 0 {
		return route{}, false
	}
	first, ok := httpRoutes[0].(map[string]any)
	if !ok {
		return route{}, false
	}
	targets, _, _ := unstructured.NestedSlice(first, "route")
	for _, t := range targets {
		target, ok := t.(map[string]any)
		if !ok {
			continue
		}
		subset, _, _ := unstructured.NestedString(target, "destination", "subset")
		weight, found, _ := unstructured.NestedInt64(target, "weight")
		if !found {
			// Istio: a single destination without a weight takes everything.
			weight = 0
			if len(targets) == 1 {
				weight = 100
			}
		}
		r.destinations = append(r.destinations, destination{subset: subset, weight: int(weight)})
	}
	return r, len(r.destinations) > 0
}

// serviceName is the Service a host names: `bizra-apex`, `bizra-apex.ns`, `bizra-apex.ns.svc...`.
func serviceName(host string) string {
	for i, c := range host {
		if c == '.' {
			return host[:i]
		}
	}
	return host
}

// subsetsOf reads a DestinationRule: its host's Service and each subset's labels.
func subsetsOf(dr *unstructured.Unstructured) (string, map[string]map[string]string) {
	host, _, _ := unstructured.NestedString(dr.Object, "spec", "host")
	subsets := map[string]map[string]string{}
	list, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
	for _, s := range list {
		subset, ok := s.(map[string]any)
		if !ok {
			continue
		}
		name, _, _ := unstructured.NestedString(subset, "name")
		labels, _, _ := unstructured.NestedStringMap(subset, "labels")
		subsets[name] = labels
	}
	return serviceName(host), subsets
}

// endpoint is a pod that can receive requests.
type endpoint struct {
	namespace, ip string
	labels        map[string]string
	ready         bool
}

func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// picker splits picks by weight exactly (smooth weighted round robin): over any run of picks
// whose length is the weights' sum, each destination is picked its weight's times.
type picker struct {
	current []int
}

func (p *picker) pick(weights []int) int {
	if len(p.current) != len(weights) {
		p.current = make([]int, len(weights))
	}
	total, best := 0, -1
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		total += w
		p.current[i] += w
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	if best >= 0 {
		p.current[best] -= total
	}
	return best
}

// mesh is the generator's view of the cluster's routing.
type mesh struct {
	mu        sync.Mutex
	routes    map[string]route                        // by namespace/name of the VirtualService
	subsets   map[string]map[string]map[string]string // by namespace/host: subset -> labels
	selectors map[string]map[string]string            // by namespace/name of the Service
	// What each route has sent so far: the fraction owed, and its pickers.
	owed    map[string]float64
	pickers map[string]*picker
	next    map[string]int // round robin within a destination, by route/subset
}

func newMesh() *mesh {
	return &mesh{
		routes: map[string]route{}, subsets: map[string]map[string]map[string]string{},
		selectors: map[string]map[string]string{}, owed: map[string]float64{},
		pickers: map[string]*picker{}, next: map[string]int{},
	}
}

// targets is where the requests due in the next `dt` go (pod IPs), given the endpoints. Each
// route sends rate*dt requests (the fractions carried over), split by its weights; a request
// for a destination with no Ready pod is lost, as the mesh would answer it 503 itself.
func (m *mesh) targets(dt time.Duration, endpoints []endpoint) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.routes))
	for key := range m.routes {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var out []string
	for _, key := range keys {
		r := m.routes[key]
		due := m.owed[key] + r.rate*dt.Seconds()
		n := int(due)
		m.owed[key] = due - float64(n)
		if n == 0 {
			continue
		}
		selector, known := m.selectors[r.namespace+"/"+r.host]
		if !known {
			continue
		}
		weights := make([]int, len(r.destinations))
		pools := make([][]string, len(r.destinations))
		for i, d := range r.destinations {
			weights[i] = d.weight
			subset := m.subsets[r.namespace+"/"+r.host][d.subset]
			if d.subset != "" && subset == nil {
				continue
			}
			for _, e := range endpoints {
				if e.ready && e.namespace == r.namespace && matches(e.labels, selector) && matches(e.labels, subset) {
					pools[i] = append(pools[i], e.ip)
				}
			}
			sort.Strings(pools[i])
		}
		p := m.pickers[key]
		if p == nil {
			p = &picker{}
			m.pickers[key] = p
		}
		for range n {
			i := p.pick(weights)
			if i < 0 || len(pools[i]) == 0 {
				continue
			}
			slot := key + "/" + r.destinations[i].subset
			out = append(out, pools[i][m.next[slot]%len(pools[i])])
			m.next[slot]++
		}
	}
	return out
}

func (m *mesh) setRoute(key string, r route, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok {
		m.routes[key] = r
	} else {
		delete(m.routes, key)
	}
}

func (m *mesh) setSubsets(key string, subsets map[string]map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if subsets == nil {
		delete(m.subsets, key)
	} else {
		m.subsets[key] = subsets
	}
}

func (m *mesh) setSelector(key string, selector map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if selector == nil {
		delete(m.selectors, key)
	} else {
		m.selectors[key] = selector
	}
}

// objectOf unwraps an informer's object.
func objectOf(obj any) (*unstructured.Unstructured, bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	return u, ok
}

func keyOf(u *unstructured.Unstructured) string { return u.GetNamespace() + "/" + u.GetName() }

// watch keeps the mesh's view of one resource up to date, once the cluster serves it (the Istio
// CRDs may come later than the simulator).
func (m *mesh) watch(ctx context.Context, client dynamic.Interface, gvr schema.GroupVersionResource, set func(u *unstructured.Unstructured, present bool)) {
	for {
		if _, err := client.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(client, 10*time.Minute)
	informer := factory.ForResource(gvr).Informer()
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { update(obj, true, set) },
		UpdateFunc: func(_, obj any) { update(obj, true, set) },
		DeleteFunc: func(obj any) { update(obj, false, set) },
	})
	factory.Start(ctx.Done())
}

func update(obj any, present bool, set func(*unstructured.Unstructured, bool)) {
	if u, ok := objectOf(obj); ok {
		set(u, present)
	}
}

// runTraffic sends the routed requests until ctx ends.
func (r *registry) runTraffic(ctx context.Context, client dynamic.Interface) {
	m := newMesh()
	go m.watch(ctx, client, servicesGVR, func(u *unstructured.Unstructured, present bool) {
		selector, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector")
		if !present || len(selector) == 0 {
			selector = nil
		}
		m.setSelector(keyOf(u), selector)
	})
	go m.watch(ctx, client, destinationRulesGVR, func(u *unstructured.Unstructured, present bool) {
		host, subsets := subsetsOf(u)
		if !present {
			subsets = nil
		}
		m.setSubsets(u.GetNamespace()+"/"+host, subsets)
	})
	go m.watch(ctx, client, virtualServicesGVR, func(u *unstructured.Unstructured, present bool) {
		rt, ok := routeOf(u)
		m.setRoute(keyOf(u), rt, present && ok)
	})
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	httpClient := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	// At most this many requests in flight: a stuck pod cannot pile up goroutines.
	inFlight := make(chan struct{}, 512)
	ticker := time.NewTicker(trafficTick)
	defer ticker.Stop()
	last := time.Now()
	var failures, dropped atomic.Int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			dt := now.Sub(last)
			last = now
			for _, ip := range m.targets(dt, r.endpoints()) {
				select {
				case inFlight <- struct{}{}:
				default:
					// Pods this slow skew the split; say so rather than hide it.
					if n := dropped.Add(1); n%1000 == 1 {
						log.Printf("traffic: %d requests in flight, dropped one to %s (%d dropped so far)", cap(inFlight), ip, n)
					}
					continue
				}
				go func(ip string) {
					defer func() { <-inFlight }()
					resp, err := httpClient.Get("http://" + net.JoinHostPort(ip, rpcPort) + "/")
					if err != nil {
						if n := failures.Add(1); n%1000 == 1 {
							log.Printf("traffic to %s: %v (%d failures so far)", ip, err, n)
						}
						return
					}
					// Read to the end, so the connection is reused rather than a new one opened
					// for every request.
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}(ip)
			}
		}
	}
}

// endpoints lists the known pods with their labels and readiness.
func (r *registry) endpoints() []endpoint {
	pods := r.snapshot()
	out := make([]endpoint, 0, len(pods))
	for _, p := range pods {
		r.mu.RLock()
		ip := p.ip
		r.mu.RUnlock()
		if ip == "" {
			continue
		}
		p.mu.Lock()
		e := endpoint{namespace: p.namespace, ip: ip, labels: p.labels, ready: p.ready}
		p.mu.Unlock()
		out = append(out, e)
	}
	return out
}
