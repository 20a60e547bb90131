package main

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func virtualService(namespace string, annotations map[string]string, stable, canary int64) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "bizra-apex", "namespace": namespace},
		"spec": map[string]any{
			"hosts": []any{"bizra-apex"},
			"http": []any{map[string]any{"name": "primary", "route": []any{
				map[string]any{"destination": map[string]any{"host": "bizra-apex", "subset": "stable"}, "weight": stable},
				map[string]any{"destination": map[string]any{"host": "bizra-apex", "subset": "canary"}, "weight": canary},
			}}},
		},
	}}
	u.SetAnnotations(annotations)
	return u
}

func TestARouteIsReadFromTheVirtualService(t *testing.T) {
	r, ok := routeOf(virtualService("testnet", map[string]string{annRouteRate: "40"}, 95, 5))
	if !ok {
		t.Fatal("route not read")
	}
	if r.host != "bizra-apex" || r.namespace != "testnet" || r.rate != 40 {
		t.Errorf("route %+v", r)
	}
	want := []destination{{"stable", 95}, {"canary", 5}}
	if len(r.destinations) != 2 || r.destinations[0] != want[0] || r.destinations[1] != want[1] {
		t.Errorf("destinations %+v, want %+v", r.destinations, want)
	}
	if r, _ := routeOf(virtualService("x", nil, 100, 0)); r.rate != defaultRouteRate {
		t.Errorf("default rate %v", r.rate)
	}
	if _, ok := routeOf(&unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}); ok {
		t.Error("a VirtualService without hosts or routes is no route")
	}
}

func TestPicksFollowTheWeightsExactly(t *testing.T) {
	for _, weights := range [][]int{{95, 5}, {75, 25}, {50, 50}, {100, 0}, {0, 100}, {1, 99}} {
		p := &picker{}
		counts := make([]int, len(weights))
		for range 100 {
			counts[p.pick(weights)]++
		}
		for i := range weights {
			if counts[i] != weights[i] {
				t.Errorf("weights %v: %v picks in 100", weights, counts)
			}
		}
	}
	if got := (&picker{}).pick([]int{0, 0}); got != -1 {
		t.Errorf("no weight, no pick: %d", got)
	}
}

// A mesh with the shipped routing: the Service selects app=bizra-apex, the DestinationRule's
// subsets are the track labels.
func shippedMesh(stable, canary int64, annotations map[string]string) *mesh {
	m := newMesh()
	m.setSelector("ns/bizra-apex", map[string]string{"app": "bizra-apex"})
	m.setSubsets("ns/bizra-apex", map[string]map[string]string{
		"stable": {"track": "stable"}, "canary": {"track": "canary"},
	})
	r, _ := routeOf(virtualService("ns", annotations, stable, canary))
	m.setRoute("ns/bizra-apex", r, true)
	return m
}

func pods() []endpoint {
	pod := func(ip, track string, ready bool) endpoint {
		return endpoint{namespace: "ns", ip: ip, labels: map[string]string{"app": "bizra-apex", "track": track}, ready: ready}
	}
	return []endpoint{
		pod("10.0.0.1", "stable", true), pod("10.0.0.2", "stable", true), pod("10.0.0.3", "stable", true),
		pod("10.0.0.9", "canary", true), pod("10.0.0.8", "canary", false),
		{namespace: "other", ip: "10.0.1.1", labels: map[string]string{"app": "bizra-apex", "track": "canary"}, ready: true},
	}
}

func TestTheTotalRateIsSplitByWeightAcrossReadyPods(t *testing.T) {
	m := shippedMesh(95, 5, nil)
	counts := map[string]int{}
	// Ten seconds in 20 ms ticks, as the generator runs: 1000 requests at the default rate.
	for range 500 {
		for _, ip := range m.targets(20*time.Millisecond, pods()) {
			counts[ip]++
		}
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total < 999 || total > 1000 {
		t.Errorf("%d requests in 10 s at %v per second", total, defaultRouteRate)
	}
	if counts["10.0.0.9"] != 50 {
		t.Errorf("the canary got %d of 1000 at 5 %%: %v", counts["10.0.0.9"], counts)
	}
	if counts["10.0.0.8"] != 0 || counts["10.0.1.1"] != 0 {
		t.Errorf("an unready pod or another namespace's got requests: %v", counts)
	}
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		if counts[ip] < 316 || counts[ip] > 317 {
			t.Errorf("stable pods share evenly: %v", counts)
		}
	}
}

func TestAWeightChangeAppliesToTheNextRequests(t *testing.T) {
	m := shippedMesh(100, 0, map[string]string{annRouteRate: "50"})
	second := func() (canary, all int) {
		for range 50 {
			for _, ip := range m.targets(20*time.Millisecond, pods()) {
				all++
				if ip == "10.0.0.9" {
					canary++
				}
			}
		}
		return canary, all
	}
	if canary, all := second(); canary != 0 || all != 50 {
		t.Errorf("at 0 %%: %d of %d to the canary", canary, all)
	}
	r, _ := routeOf(virtualService("ns", map[string]string{annRouteRate: "50"}, 50, 50))
	m.setRoute("ns/bizra-apex", r, true)
	if canary, all := second(); canary != 25 || all != 50 {
		t.Errorf("at 50 %%: %d of %d to the canary", canary, all)
	}
	m.setRoute("ns/bizra-apex", route{}, false)
	if _, all := second(); all != 0 {
		t.Errorf("a deleted route still sends %d", all)
	}
}

func TestARateOfZeroSendsNothing(t *testing.T) {
	m := shippedMesh(50, 50, map[string]string{annRouteRate: "0"})
	if got := m.targets(10*time.Second, pods()); len(got) != 0 {
		t.Errorf("%d requests at rate 0", len(got))
	}
}
