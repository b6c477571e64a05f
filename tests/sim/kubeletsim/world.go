// SPDX-License-Identifier: Apache-2.0

// world.go — the static shape of the simulated cluster: node, pod and container names,
// addresses, resources and the per-entity constants the value formulas (model.go) use.
//
// Everything here is a pure function of the flags (simConfig), so a test that knows the flags
// can rebuild any name or constant by hand; /manifest publishes all of it anyway.
package main

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

const (
	kib = 1024
	mib = 1024 * kib
	gib = 1024 * mib
)

// simConfig holds the flags that shape the world and its values.
type simConfig struct {
	nodes      int
	pods       int // per node
	containers int // per pod; 0 means "vary 1..3 per pod"
	namespaces int
	nodePrefix string
	addrBase   netip.Addr
	port       int
	listenMode string // "addr": one loopback address per node; "ports": 127.0.0.1, port+i
	interval   int64  // sample granularity, whole seconds
	epoch      int64  // unix seconds every start/boot time is counted back from
	jitter     int64  // seconds; per-entity sample time offsets are in [0, jitter)
	cpuBase    uint64 // container cpu rate: cpuBase + (cm*37) % cpuSpread millicores
	cpuSpread  uint64
	netBase    uint64 // pod network rate: netBase + (pm*7) % netSpread bytes/s
	netSpread  uint64
	hostile    bool // tricky (but valid) label keys/values in the manifest
	hostileNm  bool // one summary-only pod per node with hostile names
	swap       bool // emit swap stats (kubelet >= 1.30 does)
	psi        bool // emit PSI stats (kubelet >= 1.34 with KubeletPSI)
	indent     bool // pretty-print JSON like a real kubelet (one-space indent)
}

// Names of the containers by index, and their images. A pod's container k is named
// containerNames[k].
var containerNames = [3]string{"app", "sidecar", "logger"}

var appNames = [5]string{"web", "api", "worker", "cache", "batch"}

// node is one simulated kubelet: its static description plus (in server.go) its runtime
// state. The static part is built once at startup and never changes.
type node struct {
	idx       int
	name      string
	ip        netip.Addr
	port      int
	boot      int64  // node startTime (unix seconds)
	cpuCores  int64  // capacity
	memBytes  uint64 // capacity
	allocCPU  int64  // allocatable, millicores
	allocMem  uint64 // allocatable, bytes
	zone      string
	instType  string
	pods      []*pod
	promOrder []cref // containers sorted by (container, namespace, pod) for /metrics/resource
	podOrder  []int  // pods sorted by (namespace, pod)

	rt nodeRuntime // mutable state, see server.go
}

// cref names one container of a node: pod index and container index.
type cref struct{ p, c int }

type labelKV struct{ key, value string }

type pod struct {
	idx         int
	name        string
	namespace   string
	uid         string // deterministic; may be overridden through the control endpoint
	app         string
	labels      []labelKV
	start       int64  // pod startTime
	mix         uint64 // pod mixing key, see model.go
	registrable bool   // false for the hostile summary-only pod
	apiVolume   string // name of the projected service-account volume
	hasPVC      bool
	pvcName     string
	hasEmptyDir bool
	containers  []*container
}

type container struct {
	idx      int
	name     string
	image    string
	start0   int64  // original startTime, before any restart
	mix      uint64 // container mixing key, see model.go
	cpuMilli uint64 // usage rate
	wsBase   uint64 // working set without the periodic part
	reqCPU   uint64 // millicores
	limCPU   uint64 // millicores, 0 = none
	reqMem   uint64
	limMem   uint64 // 0 = none (then memory.availableBytes is omitted, like the kubelet)
}

// nodeAddrs returns the address and port of each of n nodes. In "addr" mode node i gets the
// i-th address at or after base whose last octet is neither 0 nor 255; all stay in
// 127.0.0.0/8. In "ports" mode all nodes share 127.0.0.1 and node i listens on port+i.
func nodeAddrs(cfg *simConfig) ([]netip.Addr, []int, error) {
	ips := make([]netip.Addr, cfg.nodes)
	ports := make([]int, cfg.nodes)
	if cfg.listenMode == "ports" {
		lo := netip.MustParseAddr("127.0.0.1")
		if cfg.port+cfg.nodes-1 > 65535 {
			return nil, nil, fmt.Errorf("-port %d + %d nodes runs past 65535", cfg.port, cfg.nodes)
		}
		for i := range ips {
			ips[i], ports[i] = lo, cfg.port+i
		}
		return ips, ports, nil
	}
	loop := netip.MustParsePrefix("127.0.0.0/8")
	a := cfg.addrBase
	if !a.Is4() || !loop.Contains(a) {
		return nil, nil, fmt.Errorf("-addr-base %s is not an IPv4 loopback address", a)
	}
	for i := range ips {
		for a.As4()[3] == 0 || a.As4()[3] == 255 {
			a = a.Next()
		}
		if !loop.Contains(a) {
			return nil, nil, fmt.Errorf("%d nodes do not fit in 127.0.0.0/8 from %s",
				cfg.nodes, cfg.addrBase)
		}
		ips[i], ports[i] = a, cfg.port
		a = a.Next()
	}
	return ips, ports, nil
}

// containersIn returns how many containers pod j of node n has.
func containersIn(cfg *simConfig, n, j int) int {
	if cfg.containers > 0 {
		return cfg.containers
	}
	return 1 + (n+2*j)%3
}

func roundUp(v, step uint64) uint64 { return (v + step - 1) / step * step }

// newNode builds node n with its pods and containers. See model.go for what the constants
// mean; every one is documented there next to the formula that uses it.
func newNode(cfg *simConfig, n int, ip netip.Addr, port int) *node {
	class := n % 3
	nd := &node{
		idx:      n,
		name:     fmt.Sprintf("%s%04d", cfg.nodePrefix, n),
		ip:       ip,
		port:     port,
		boot:     nodeBoot(cfg, n),
		cpuCores: [3]int64{4, 8, 16}[class],
		memBytes: [3]uint64{16 * gib, 32 * gib, 64 * gib}[class],
		zone:     [3]string{"zone-a", "zone-b", "zone-c"}[n%3],
		instType: [3]string{"sim-small", "sim-medium", "sim-large"}[class],
	}
	nd.allocCPU = nd.cpuCores*1000 - 100
	nd.allocMem = nd.memBytes - 768*mib
	nd.pods = make([]*pod, cfg.pods)
	for j := range nd.pods {
		nd.pods[j] = newPod(cfg, nd, j)
	}
	nd.sortForProm()
	return nd
}

func newPod(cfg *simConfig, nd *node, j int) *pod {
	n := nd.idx
	app := appNames[(n+j)%len(appNames)]
	p := &pod{
		idx:         j,
		name:        fmt.Sprintf("p%03d-%s", j, nd.name),
		namespace:   fmt.Sprintf("ns-%d", (n*cfg.pods+j)%cfg.namespaces),
		uid:         podUID(n, j),
		app:         app,
		start:       podStart(cfg, n, j),
		mix:         podMix(n, j),
		registrable: true,
		hasPVC:      j%3 == 0,
		hasEmptyDir: j%2 == 1,
	}
	p.apiVolume = "kube-api-access-" + shortSuffix(p.mix)
	p.labels = []labelKV{
		{"app", app},
		{"kubepulse.io/sim", "true"},
		{"pod-template-hash", fmt.Sprintf("%09x", (uint64(n)*2654435761+uint64(j)*40503)%(1<<36))},
		{"tier", [3]string{"frontend", "backend", "data"}[j%3]},
	}
	if cfg.hostile && j == 0 {
		// The trickiest a Kubernetes label may be: a prefixed key with dots, dashes and
		// underscores, a 63-character value using every allowed punctuation mark.
		p.labels = append(p.labels,
			labelKV{"kubepulse.io/hostile_key.x-y", "v1.2_beta-3.rc_4"},
			labelKV{"app.kubernetes.io/name", "x" + strings.Repeat("a.b_c-", 10) + "z"})
	}
	if cfg.hostileNm && cfg.pods >= 2 && j == cfg.pods-1 {
		// Not a valid Kubernetes name: only ever seen in the Summary, never registered.
		p.name = fmt.Sprintf("hostile pod,x=\"y\"\\z\t\u00fc\U0001F680-%s", nd.name)
		p.namespace = "ns hostile,a=b"
		p.registrable = false
	}
	if p.hasPVC {
		p.pvcName = "data-" + p.name
	}
	cn := containersIn(cfg, n, j)
	p.containers = make([]*container, cn)
	for k := range p.containers {
		p.containers[k] = newContainer(cfg, p, n, j, k)
	}
	if !p.registrable && cn > 1 {
		p.containers[1].name = "side car,=\"q\"\\"
	}
	return p
}

func newContainer(cfg *simConfig, p *pod, n, j, k int) *container {
	c := &container{
		idx:    k,
		name:   containerNames[k%len(containerNames)],
		start0: p.start + 2 + int64(k),
		mix:    containerMix(n, j, k),
	}
	c.cpuMilli = containerCPUMilli(cfg, c.mix)
	c.wsBase = containerWSBase(c.mix)
	switch k {
	case 0:
		c.image = "ghcr.io/kubepulse-sim/" + p.app + ":1." + fmt.Sprint(j%4)
		c.reqCPU = roundUp(2*c.cpuMilli, 10)
		c.limCPU = 2 * c.reqCPU
		c.reqMem = roundUp(c.wsBase+16*mib, 16*mib)
		c.limMem = 2 * c.reqMem
	case 1:
		c.image = "docker.io/envoyproxy/envoy:v1.31.2"
		c.reqCPU = roundUp(c.cpuMilli+10, 10)
		c.reqMem = roundUp(c.wsBase, 16*mib)
	default:
		c.image = "cr.fluentbit.io/fluent/fluent-bit:3.1.9"
		c.reqCPU = 10
		c.reqMem = 32 * mib
	}
	return c
}

// podUID is a deterministic, UUID-shaped pod UID: node index, pod index, then a mix.
func podUID(n, j int) string {
	return fmt.Sprintf("%08x-%04x-4000-8000-%012x", n, j, (uint64(n)*1000003+uint64(j)*7919)%(1<<48))
}

// shortSuffix makes a 5-character name suffix like the API server's generateName does.
func shortSuffix(v uint64) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	v = v*6364136223846793005 + 1442695040888963407
	for i := range b {
		b[i] = alphabet[v%uint64(len(alphabet))]
		v /= uint64(len(alphabet))
	}
	return string(b[:])
}

// sortForProm precomputes the order real kubelets print /metrics/resource samples in: the
// Prometheus registry sorts each family by label values (container, namespace, pod).
func (nd *node) sortForProm() {
	for j, p := range nd.pods {
		for k := range p.containers {
			nd.promOrder = append(nd.promOrder, cref{j, k})
		}
		nd.podOrder = append(nd.podOrder, j)
	}
	podLess := func(pa, pb *pod) bool {
		if pa.namespace != pb.namespace {
			return pa.namespace < pb.namespace
		}
		return pa.name < pb.name
	}
	sort.Slice(nd.promOrder, func(i, j int) bool {
		a, b := nd.promOrder[i], nd.promOrder[j]
		ca, cb := nd.pods[a.p].containers[a.c].name, nd.pods[b.p].containers[b.c].name
		if ca != cb {
			return ca < cb
		}
		return podLess(nd.pods[a.p], nd.pods[b.p])
	})
	sort.Slice(nd.podOrder, func(i, j int) bool {
		return podLess(nd.pods[nd.podOrder[i]], nd.pods[nd.podOrder[j]])
	})
}
