// SPDX-License-Identifier: Apache-2.0

// render_metrics.go — writes a node's sample as the kubelet's GET /metrics/resource
// (Prometheus text format 0.0.4), the endpoint metrics-server scrapes.
//
// Same numbers as /stats/summary: cpu seconds = usageCoreNanoSeconds / 1e9, working set
// bytes, container start time in unix seconds; sample timestamps are the stats' time in
// milliseconds. Families come sorted by name and samples by label values, as the Prometheus
// registry in the kubelet prints them; HELP texts carry the kubelet's stability markers.
package main

import (
	"math"
	"strconv"
)

type promFamily struct{ name, typ, help string }

var (
	famContainerCPU   = promFamily{"container_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the container in core-seconds"}
	famContainerMem   = promFamily{"container_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the container in bytes"}
	famContainerStart = promFamily{"container_start_time_seconds", "gauge", "[STABLE] Start time of the container since unix epoch in seconds"}
	famContainerSwap  = promFamily{"container_swap_usage_bytes", "gauge", "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems"}
	famNodeCPU        = promFamily{"node_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the node in core-seconds"}
	famNodeMem        = promFamily{"node_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the node in bytes"}
	famNodeSwap       = promFamily{"node_swap_usage_bytes", "gauge", "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems"}
	famPodCPU         = promFamily{"pod_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the pod in core-seconds"}
	famPodMem         = promFamily{"pod_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the pod in bytes"}
	famPodSwap        = promFamily{"pod_swap_usage_bytes", "gauge", "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems"}
	famResourceErr    = promFamily{"resource_scrape_error", "gauge", "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise"}
	famScrapeErr      = promFamily{"scrape_error", "gauge", "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise"}
)

// pw is the Prometheus text writer; mode as in jw.
type pw struct {
	b    []byte
	mode renderMode
	n    uint32
}

func (w *pw) header(f promFamily) {
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, f.name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, f.help...)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, f.name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, f.typ...)
	w.b = append(w.b, '\n')
}

// labelValue escapes a label value (backslash, quote, newline), or corrupts it in
// modeBadUTF8.
func (w *pw) labelValue(s string) {
	if w.mode == modeBadUTF8 {
		w.n++
		mid := len(s) / 2
		w.b = appendPromEscaped(w.b, s[:mid])
		w.b = append(w.b, [...]string{"\xff", "\xc0\xaf", "\xed\xa0\x80"}[w.n%3]...)
		w.b = appendPromEscaped(w.b, s[mid:])
		return
	}
	w.b = appendPromEscaped(w.b, s)
}

func appendPromEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// value writes a sample value like the Prometheus client (shortest 'g' form), or a fault
// variant.
func (w *pw) value(v float64) {
	w.n++
	switch w.mode {
	case modeNaN:
		switch w.n % 5 {
		case 1:
			v = math.NaN()
		case 2:
			v = -v - 1
		case 3:
			v = math.Inf(1)
		case 4:
			v = math.MaxFloat64
		}
	case modeWrongTypes:
		switch w.n % 3 {
		case 1:
			w.b = append(w.b, '"')
			w.b = strconv.AppendFloat(w.b, v, 'g', -1, 64)
			w.b = append(w.b, '"')
			return
		case 2:
			w.b = append(w.b, "true"...)
			return
		}
	}
	switch {
	case math.IsNaN(v):
		w.b = append(w.b, "NaN"...)
	case math.IsInf(v, 1):
		w.b = append(w.b, "+Inf"...)
	case math.IsInf(v, -1):
		w.b = append(w.b, "-Inf"...)
	default:
		w.b = strconv.AppendFloat(w.b, v, 'g', -1, 64)
	}
}

func (w *pw) ts(t int64) {
	w.b = append(w.b, ' ')
	w.b = strconv.AppendInt(w.b, t*1000, 10)
}

func (w *pw) containerSample(f promFamily, c *container, p *pod, v float64, t int64, withTS bool) {
	w.b = append(w.b, f.name...)
	w.b = append(w.b, `{container="`...)
	w.labelValue(c.name)
	w.b = append(w.b, `",namespace="`...)
	w.labelValue(p.namespace)
	w.b = append(w.b, `",pod="`...)
	w.labelValue(p.name)
	w.b = append(w.b, `"} `...)
	w.value(v)
	if withTS {
		w.ts(t)
	}
	w.b = append(w.b, '\n')
}

func (w *pw) podSample(f promFamily, p *pod, v float64, t int64) {
	w.b = append(w.b, f.name...)
	w.b = append(w.b, `{namespace="`...)
	w.labelValue(p.namespace)
	w.b = append(w.b, `",pod="`...)
	w.labelValue(p.name)
	w.b = append(w.b, `"} `...)
	w.value(v)
	w.ts(t)
	w.b = append(w.b, '\n')
}

func (w *pw) nodeSample(f promFamily, v float64, t int64) {
	w.header(f)
	w.b = append(w.b, f.name...)
	w.b = append(w.b, ' ')
	w.value(v)
	w.ts(t)
	w.b = append(w.b, '\n')
}

func cpuSeconds(ns uint64) float64 { return float64(ns) / 1e9 }

// renderMetrics appends /metrics/resource for s to w.
func renderMetrics(w *pw, cfg *simConfig, s *nSample) {
	nd := s.nd
	partial := w.mode == modePartial
	cs := func(r cref) (*pod, *cSample) { return nd.pods[r.p], &s.pods[r.p].cs[r.c] }

	if len(nd.promOrder) > 0 {
		w.header(famContainerCPU)
		for _, r := range nd.promOrder {
			p, c := cs(r)
			if !(partial && partialNoCPU(p, r.c)) {
				w.containerSample(famContainerCPU, c.c, p, cpuSeconds(c.cpu.total), c.t, true)
			}
		}
		w.header(famContainerMem)
		for _, r := range nd.promOrder {
			p, c := cs(r)
			if !(partial && partialNoMem(p, r.c)) {
				w.containerSample(famContainerMem, c.c, p, float64(c.mem.ws), c.t, true)
			}
		}
		w.header(famContainerStart)
		for _, r := range nd.promOrder {
			p, c := cs(r)
			w.containerSample(famContainerStart, c.c, p, float64(c.start), 0, false)
		}
		if cfg.swap {
			w.header(famContainerSwap)
			for _, r := range nd.promOrder {
				p, c := cs(r)
				w.containerSample(famContainerSwap, c.c, p, 0, c.t, true)
			}
		}
	}
	w.nodeSample(famNodeCPU, cpuSeconds(s.cpu.total), s.t)
	if !(partial && nd.idx%2 == 1) {
		w.nodeSample(famNodeMem, float64(s.mem.ws), s.t)
	}
	if cfg.swap {
		w.nodeSample(famNodeSwap, 0, s.t)
	}
	if len(nd.podOrder) > 0 {
		w.header(famPodCPU)
		for _, j := range nd.podOrder {
			w.podSample(famPodCPU, nd.pods[j], cpuSeconds(s.pods[j].cpu.total), s.pods[j].t)
		}
		w.header(famPodMem)
		for _, j := range nd.podOrder {
			w.podSample(famPodMem, nd.pods[j], float64(s.pods[j].mem.ws), s.pods[j].t)
		}
		if cfg.swap {
			w.header(famPodSwap)
			for _, j := range nd.podOrder {
				w.podSample(famPodSwap, nd.pods[j], 0, s.pods[j].t)
			}
		}
	}
	for _, f := range []promFamily{famResourceErr, famScrapeErr} {
		w.header(f)
		w.b = append(w.b, f.name...)
		w.b = append(w.b, " 0\n"...)
	}
}
