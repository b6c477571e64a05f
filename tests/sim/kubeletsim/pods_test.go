// SPDX-License-Identifier: Apache-2.0

// pods_test.go — GET /pods: the pod list matches the Summary's pods (what Telegraf joins on),
// carries images, labels, resources and container restarts, is authenticated like the stats
// endpoints and is counted.
package main

import (
	"encoding/json"
	"testing"
)

// decodedPodList is what a client reads back; the names follow the v1 API's JSON.
type decodedPodList struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Items      []struct {
		Metadata struct {
			Name, Namespace, UID, CreationTimestamp string
			Labels                                  map[string]string
		} `json:"metadata"`
		Spec struct {
			NodeName   string `json:"nodeName"`
			Containers []struct {
				Name, Image string
				Resources   struct{ Requests, Limits map[string]string }
			} `json:"containers"`
		} `json:"spec"`
		Status struct {
			Phase      string `json:"phase"`
			Conditions []struct {
				Type, Status string
			} `json:"conditions"`
			ContainerStatuses []struct {
				Name         string `json:"name"`
				Ready        bool   `json:"ready"`
				RestartCount int    `json:"restartCount"`
				State        struct {
					Running *struct {
						StartedAt string `json:"startedAt"`
					} `json:"running"`
				} `json:"state"`
				LastState struct {
					Terminated *struct {
						ExitCode int `json:"exitCode"`
					} `json:"terminated"`
				} `json:"lastState"`
			} `json:"containerStatuses"`
		} `json:"status"`
	} `json:"items"`
}

func getPods(t *testing.T, s *sim, n int) decodedPodList {
	t.Helper()
	w := get(t, s.handler(s.nodes[n]), "/pods", "Bearer tok-123")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("/pods: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var l decodedPodList
	if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil {
		t.Fatalf("/pods is not JSON: %v", err)
	}
	return l
}

func TestPodsMatchSummary(t *testing.T) {
	cfg := testConfig()
	cfg.containers = 0 // 1..3 containers per pod: every image and resource shape
	s, clk := simWithClock(t, cfg)
	w := get(t, s.handler(s.nodes[2]), "/stats/summary", "Bearer tok-123")
	first := get(t, s.handler(s.nodes[2]), "/pods", "Bearer tok-123").Body.String()
	s.nodes[2].rt.counters.pods.Store(0)
	var sum Summary
	if err := json.Unmarshal(w.Body.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	l := getPods(t, s, 2)
	if l.Kind != "PodList" || l.APIVersion != "v1" || len(l.Items) != len(sum.Pods) {
		t.Fatalf("%s %s with %d items for %d Summary pods", l.Kind, l.APIVersion, len(l.Items),
			len(sum.Pods))
	}
	nd := s.nodes[2]
	for j, it := range l.Items {
		p, ref := nd.pods[j], sum.Pods[j].PodRef
		m := it.Metadata
		if m.Name != ref.Name || m.Namespace != ref.Namespace || m.UID != ref.UID {
			t.Errorf("item %d is %s/%s %s, Summary has %s/%s %s", j, m.Namespace, m.Name, m.UID,
				ref.Namespace, ref.Name, ref.UID)
		}
		if m.Labels["app"] != p.app || m.Labels["tier"] == "" || m.CreationTimestamp == "" {
			t.Errorf("%s: labels %v created %q", m.Name, m.Labels, m.CreationTimestamp)
		}
		if it.Spec.NodeName != nd.name || it.Status.Phase != "Running" ||
			len(it.Status.Conditions) != 5 {
			t.Errorf("%s: node %q phase %q conditions %v", m.Name, it.Spec.NodeName,
				it.Status.Phase, it.Status.Conditions)
		}
		if len(it.Spec.Containers) != len(p.containers) ||
			len(it.Status.ContainerStatuses) != len(p.containers) {
			t.Fatalf("%s: %d containers, %d statuses, want %d", m.Name,
				len(it.Spec.Containers), len(it.Status.ContainerStatuses), len(p.containers))
		}
		for k, c := range it.Spec.Containers {
			want := p.containers[k]
			if c.Name != sum.Pods[j].Containers[k].Name || c.Image != want.image {
				t.Errorf("%s container %d: %s %s", m.Name, k, c.Name, c.Image)
			}
			if c.Resources.Requests["cpu"] != cpuQty(want.reqCPU) ||
				c.Resources.Requests["memory"] != memQty(want.reqMem) ||
				(want.limMem > 0) != (c.Resources.Limits["memory"] != "") {
				t.Errorf("%s/%s resources %+v", m.Name, c.Name, c.Resources)
			}
			cs := it.Status.ContainerStatuses[k]
			if cs.Name != c.Name || !cs.Ready || cs.RestartCount != 0 || cs.State.Running == nil ||
				cs.State.Running.StartedAt != sum.Pods[j].Containers[k].StartTime {
				t.Errorf("%s/%s status %+v", m.Name, c.Name, cs)
			}
		}
	}
	// Without restarts the list does not change with time: a later sample is a cache hit.
	clk.advance(3 * cfg.interval)
	hits := nd.rt.counters.cacheHits.Load()
	w2 := get(t, s.handler(nd), "/pods", "Bearer tok-123")
	if nd.rt.counters.cacheHits.Load() != hits+1 || w2.Body.String() != first {
		t.Error("/pods of a later sample was rendered again or differs")
	}
	if c := &nd.rt.counters; c.pods.Load() != 2 || c.summary.Load() != 1 || c.notFound.Load() != 0 {
		t.Errorf("counters: pods %d summary %d notFound %d", c.pods.Load(), c.summary.Load(),
			c.notFound.Load())
	}
}

// A restart shows in restartCount, the running state's start and lastState from the sample
// the Summary shows it in.
func TestPodsRestart(t *testing.T) {
	s, clk := simWithClock(t, testConfig())
	nd := s.nodes[1]
	T0 := int64(testEpoch + 1000)
	s.update(nd, func(st *nodeState) {
		st.restarts[cref{3, 1}] = []restartRec{{at: T0 + 4, effT: T0 + 10}}
	})
	if cs := getPods(t, s, 1).Items[3].Status.ContainerStatuses[1]; cs.RestartCount != 0 {
		t.Errorf("restart visible before its sample: %+v", cs)
	}
	clk.advance(10)
	cs := getPods(t, s, 1).Items[3].Status.ContainerStatuses[1]
	if cs.RestartCount != 1 || cs.State.Running.StartedAt != rfc3339(T0+4) ||
		cs.LastState.Terminated == nil || cs.LastState.Terminated.ExitCode != 137 {
		t.Errorf("after the restart: %+v", cs)
	}
	if other := getPods(t, s, 1).Items[3].Status.ContainerStatuses[0]; other.RestartCount != 0 {
		t.Errorf("the other container restarted too: %+v", other)
	}
}

// Summary-only pods (-hostile-names) are not listed: no pod manager could hold them.
func TestPodsSkipsSummaryOnly(t *testing.T) {
	cfg := testConfig()
	cfg.hostileNm = true
	s, _ := simWithClock(t, cfg)
	l := getPods(t, s, 0)
	if len(l.Items) != cfg.pods-1 {
		t.Fatalf("%d items, want %d", len(l.Items), cfg.pods-1)
	}
	for _, it := range l.Items {
		if it.Metadata.Name == s.nodes[0].pods[cfg.pods-1].name {
			t.Error("the summary-only pod is listed")
		}
	}
}
