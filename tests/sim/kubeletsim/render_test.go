// SPDX-License-Identifier: Apache-2.0

// render_test.go — the JSON shape (fast renderer == encoding/json of the typed Summary, byte
// for byte), the Prometheus text, and the broken bodies the fault modes render.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func renderNormal(t *testing.T, s *sim, n int, T int64, slot int) []byte {
	t.Helper()
	nd := s.nodes[n]
	b, _ := s.render(nd, nd.rt.state.Load(), T, slot, modeNormal)
	return b
}

// TestSummaryMatchesEncodingJSON: under every option the fast renderer writes exactly what
// encoding/json writes for the typed Summary — so field names, nesting, order, optional
// fields and number formats are those of the v1alpha1 types.
func TestSummaryMatchesEncodingJSON(t *testing.T) {
	variants := map[string]func(c *simConfig){
		"default":       func(c *simConfig) {},
		"compact":       func(c *simConfig) { c.indent = false },
		"psi":           func(c *simConfig) { c.psi = true },
		"noswap":        func(c *simConfig) { c.swap = false },
		"vary":          func(c *simConfig) { c.containers = 0 },
		"hostile":       func(c *simConfig) { c.hostileNm, c.hostile = true, true },
		"jitter":        func(c *simConfig) { c.jitter = 9 },
		"three":         func(c *simConfig) { c.containers = 3 },
		"nopods":        func(c *simConfig) { c.pods = 0 },
		"single-pod":    func(c *simConfig) { c.pods, c.containers = 1, 1 },
		"many-pods-ns1": func(c *simConfig) { c.pods, c.namespaces = 40, 1 },
	}
	for name, mod := range variants {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			mod(&cfg)
			s := newTestSim(t, cfg)
			T := int64(testEpoch + 7200)
			for n := range s.nodes {
				for _, slot := range []int{cacheSummary, cacheSummaryCPUMem} {
					got := renderNormal(t, s, n, T, slot)
					smp := s.computeSample(s.nodes[n], s.nodes[n].rt.state.Load(), T, slot == cacheSummaryCPUMem)
					var want []byte
					var err error
					if cfg.indent {
						want, err = json.MarshalIndent(toSummary(&cfg, smp), "", " ")
					} else {
						want, err = json.Marshal(toSummary(&cfg, smp))
					}
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						i := firstDiff(got, want)
						t.Fatalf("node %d slot %d differs at %d:\n got %q\nwant %q", n, slot, i,
							got[max(0, i-80):min(len(got), i+80)], want[max(0, i-80):min(len(want), i+80)])
					}
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSummaryShape decodes a summary strictly and checks the fields a Heapster-style
// collector needs are present with plausible values.
func TestSummaryShape(t *testing.T) {
	cfg := testConfig()
	cfg.pods = 6
	s := newTestSim(t, cfg)
	body := renderNormal(t, s, 1, testEpoch+600, cacheSummary)
	var sum Summary
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sum); err != nil {
		t.Fatal(err)
	}
	n := sum.Node
	if n.NodeName != "node-0001" || len(n.SystemContainers) != 3 || n.SystemContainers[0].Name != "kubelet" ||
		n.SystemContainers[1].Name != "runtime" || n.SystemContainers[2].Name != "pods" {
		t.Fatalf("node header: %+v", n)
	}
	if n.CPU == nil || n.CPU.UsageCoreNanoSeconds == nil || n.CPU.UsageNanoCores == nil ||
		n.Memory == nil || n.Memory.AvailableBytes == nil || n.Memory.RSSBytes == nil ||
		n.Memory.PageFaults == nil || n.Memory.MajorPageFaults == nil ||
		n.Network == nil || n.Network.RxBytes == nil || len(n.Network.Interfaces) != 2 ||
		n.Fs == nil || n.Fs.InodesFree == nil || n.Runtime == nil || n.Runtime.ImageFs == nil ||
		n.Rlimit == nil || n.Rlimit.MaxPID == nil {
		t.Fatalf("node stats incomplete: %s", body[:400])
	}
	if n.CPU.Time != "2027-01-15T08:10:00Z" || n.StartTime != "2027-01-08T07:59:00Z" {
		t.Errorf("times %q %q", n.CPU.Time, n.StartTime)
	}
	if len(sum.Pods) != 6 {
		t.Fatalf("%d pods", len(sum.Pods))
	}
	for _, p := range sum.Pods {
		if p.PodRef.Name == "" || p.PodRef.Namespace == "" || len(p.PodRef.UID) != 36 ||
			len(p.Containers) != 2 || p.CPU == nil || p.Memory == nil || p.Network == nil ||
			len(p.Network.Interfaces) != 1 || len(p.VolumeStats) == 0 || p.EphemeralStorage == nil ||
			p.ProcessStats == nil || p.ProcessStats.ProcessCount == nil {
			t.Fatalf("pod incomplete: %+v", p)
		}
		for _, c := range p.Containers {
			if c.CPU == nil || c.Memory == nil || c.Rootfs == nil || c.Logs == nil ||
				*c.Memory.WorkingSetBytes > *c.Memory.UsageBytes {
				t.Fatalf("container incomplete: %+v", c)
			}
			if (c.Name == "app") != (c.Memory.AvailableBytes != nil) {
				t.Errorf("container %s availableBytes presence wrong", c.Name)
			}
		}
		for _, v := range p.VolumeStats {
			if v.Name == "data" && (v.PVCRef == nil || v.PVCRef.Name != "data-"+p.PodRef.Name) {
				t.Errorf("PVC volume without pvcRef: %+v", v)
			}
		}
	}
}

func TestEscaping(t *testing.T) {
	for _, s := range []string{"plain", "q\"b\\s", "tab\tnl\n\x01", "<a&b>", "ü🚀", "\u2028x\u2029", "bad\xffutf8"} {
		want, _ := json.Marshal(s)
		got := appendEscaped([]byte{'"'}, s)
		got = append(got, '"')
		if !bytes.Equal(got, want) {
			t.Errorf("escape %q: got %s want %s", s, got, want)
		}
	}
}

// parseProm is a strict little parser of the sample lines we emit:
// name{labels} value [timestamp].
func parseProm(t *testing.T, body []byte) map[string][2]float64 {
	t.Helper()
	out := map[string][2]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		i := strings.LastIndex(line, "} ")
		key, rest := "", ""
		if i >= 0 {
			key, rest = line[:i+1], line[i+2:]
		} else {
			key, rest, _ = strings.Cut(line, " ")
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 || len(fields) > 2 {
			t.Fatalf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			t.Fatalf("bad value in %q", line)
		}
		ts := -1.0
		if len(fields) == 2 {
			if ts, err = strconv.ParseFloat(fields[1], 64); err != nil {
				t.Fatalf("bad timestamp in %q", line)
			}
		}
		if _, dup := out[key]; dup {
			t.Fatalf("duplicate series %s", key)
		}
		out[key] = [2]float64{v, ts}
	}
	return out
}

// TestMetricsResource: /metrics/resource carries the summary's numbers, sorted like the
// kubelet's registry prints them.
func TestMetricsResource(t *testing.T) {
	s := newTestSim(t, testConfig())
	T := int64(testEpoch + 900)
	body := renderNormal(t, s, 2, T, cacheMetrics)
	series := parseProm(t, body)
	smp := s.computeSample(s.nodes[2], s.nodes[2].rt.state.Load(), T, false)
	ms := float64(T * 1000)
	check := func(key string, v float64, ts float64) {
		t.Helper()
		got, ok := series[key]
		if !ok {
			t.Fatalf("missing %s", key)
		}
		if got[0] != v || got[1] != ts {
			t.Errorf("%s = %v @%v, want %v @%v", key, got[0], got[1], v, ts)
		}
	}
	check("node_cpu_usage_seconds_total", float64(smp.cpu.total)/1e9, ms)
	check("node_memory_working_set_bytes", float64(smp.mem.ws), ms)
	check("resource_scrape_error", 0, -1)
	for _, ps := range smp.pods {
		pl := fmt.Sprintf(`namespace="%s",pod="%s"`, ps.p.namespace, ps.p.name)
		check("pod_cpu_usage_seconds_total{"+pl+"}", float64(ps.cpu.total)/1e9, ms)
		check("pod_memory_working_set_bytes{"+pl+"}", float64(ps.mem.ws), ms)
		for _, cs := range ps.cs {
			cl := fmt.Sprintf(`{container="%s",%s}`, cs.c.name, pl)
			check("container_cpu_usage_seconds_total"+cl, float64(cs.cpu.total)/1e9, ms)
			check("container_memory_working_set_bytes"+cl, float64(cs.mem.ws), ms)
			check("container_start_time_seconds"+cl, float64(cs.start), -1)
		}
	}
	// Families sorted by name, each with HELP and TYPE first.
	var fams []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			fams = append(fams, strings.Fields(line)[2])
		}
	}
	for i := 1; i < len(fams); i++ {
		if fams[i-1] >= fams[i] {
			t.Errorf("families out of order: %v", fams)
		}
	}
	if !bytes.Contains(body, []byte("# HELP container_cpu_usage_seconds_total [STABLE] ")) {
		t.Error("no stability marker in HELP")
	}
}

func TestMetricsHostileLabels(t *testing.T) {
	cfg := testConfig()
	cfg.hostileNm = true
	s := newTestSim(t, cfg)
	body := renderNormal(t, s, 0, testEpoch, cacheMetrics)
	want := `pod="hostile pod,x=\"y\"\\z` + "\t\u00fc\U0001F680-node-0000\"}"
	if !strings.Contains(string(body), want) {
		t.Errorf("hostile pod label not escaped as expected; want %q in output", want)
	}
	parseProm(t, body)
}

func renderMode_(t *testing.T, s *sim, n int, slot int, mode renderMode) []byte {
	t.Helper()
	nd := s.nodes[n]
	b, _ := s.render(nd, nd.rt.state.Load(), testEpoch+60, slot, mode)
	return b
}

func TestFaultRenderings(t *testing.T) {
	s := newTestSim(t, testConfig())

	nan := renderMode_(t, s, 0, cacheSummary, modeNaN)
	if json.Valid(nan) || !bytes.Contains(nan, []byte(": NaN")) || !bytes.Contains(nan, []byte(": -")) ||
		!bytes.Contains(nan, []byte("1e400")) {
		t.Error("nan mode: want NaN tokens, negatives and huge numbers")
	}
	pnan := renderMode_(t, s, 0, cacheMetrics, modeNaN)
	if !bytes.Contains(pnan, []byte("} NaN ")) || !bytes.Contains(pnan, []byte("} +Inf ")) {
		t.Error("nan mode metrics: want NaN and +Inf values")
	}

	wt := renderMode_(t, s, 0, cacheSummary, modeWrongTypes)
	if !json.Valid(wt) {
		t.Fatal("wrongtypes must still be valid JSON")
	}
	var sum Summary
	if err := json.Unmarshal(wt, &sum); err == nil {
		t.Error("wrongtypes decodes into the typed Summary")
	}
	var generic map[string]any
	_ = json.Unmarshal(wt, &generic)
	node := generic["node"].(map[string]any)
	if _, isObj := node["systemContainers"].(map[string]any); !isObj {
		t.Error("wrongtypes: systemContainers should be an object")
	}
	if _, isStr := generic["pods"].([]any)[0].(map[string]any)["podRef"].(string); !isStr {
		t.Error("wrongtypes: podRef should be a string")
	}

	bad := renderMode_(t, s, 0, cacheSummary, modeBadUTF8)
	if utf8.Valid(bad) {
		t.Error("badutf8 output is valid UTF-8")
	}
	if pbad := renderMode_(t, s, 0, cacheMetrics, modeBadUTF8); utf8.Valid(pbad) {
		t.Error("badutf8 metrics are valid UTF-8")
	}

	part := renderMode_(t, s, 1, cacheSummary, modePartial)
	var ps Summary
	if err := json.Unmarshal(part, &ps); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, p := range ps.Pods {
		for _, c := range p.Containers {
			if c.CPU == nil || c.Memory == nil {
				missing++
			}
			if c.CPU != nil && c.CPU.UsageNanoCores != nil {
				t.Error("partial: usageNanoCores present")
			}
		}
	}
	if missing == 0 || ps.Node.Memory != nil {
		t.Error("partial: nothing omitted")
	}
}

func TestMalformedVariants(t *testing.T) {
	s := newTestSim(t, testConfig())
	body := renderNormal(t, s, 0, testEpoch, cacheSummary)
	for _, v := range []string{"mid", "trailing", "eof", "trailingcomma", "empty", "html", "singlequote"} {
		_, out := malformedBody(body, &fault{variant: v, cut: -1})
		if json.Valid(out) {
			t.Errorf("malformed variant %s is valid JSON", v)
		}
	}
}

func TestDeep(t *testing.T) {
	// encoding/json stops at 10,000 levels, so check validity on a shallower one.
	b := deepBody("node-0000", &fault{depth: 100000, shape: "array"})
	if bytes.Count(b, []byte("[")) != 100001 || bytes.Count(b, []byte("]")) != 100001 {
		t.Error("deep array body")
	}
	if !json.Valid(deepBody("node-0000", &fault{depth: 5000, shape: "array"})) {
		t.Error("deep array body is not valid JSON")
	}
	b = deepBody("node-0000", &fault{depth: 1000, shape: "object"})
	if !json.Valid(b) || bytes.Count(b, []byte(`{"a":`)) != 1000 {
		t.Error("deep object body")
	}
}

func TestPlannedSize(t *testing.T) {
	for _, c := range []struct{ head, unit, sep, tail int }{{10, 7, 1, 5}, {100, 1, 0, 3}, {5, 64, 0, 5}} {
		for _, limit := range []int64{0, 50, 1000, 12345} {
			want := int64(c.head + c.unit)
			for want+int64(c.sep+c.unit+c.tail) <= limit {
				want += int64(c.sep + c.unit)
			}
			want += int64(c.tail)
			if got := plannedSize(c.head, c.unit, c.sep, c.tail, limit); got != want {
				t.Errorf("%+v limit %d: %d want %d", c, limit, got, want)
			}
		}
	}
}

func TestPSIValuesAreFinite(t *testing.T) {
	p := psiOf(123, 45, 1000)
	for _, v := range append(p.some[:], p.full[:]...) {
		if math.IsNaN(v) || v < 0 || v >= 1 {
			t.Errorf("avg %v", v)
		}
	}
}
