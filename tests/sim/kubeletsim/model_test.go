// SPDX-License-Identifier: Apache-2.0

// model_test.go — the value formulas: values recomputed by hand from the documented
// formulas (model.go's package comment), sample-time stepping, restarts, counter resets.
package main

import (
	"net/netip"
	"testing"
	"time"
)

const testEpoch = 1_800_000_000 // 2027-01-15T08:00:00Z, a multiple of 10

func testConfig() simConfig {
	return simConfig{
		nodes: 4, pods: 7, containers: 2, namespaces: 5, nodePrefix: "node-",
		addrBase: netip.MustParseAddr("127.1.0.1"), port: 10250, listenMode: "addr",
		interval: 10, epoch: testEpoch, swap: true, indent: true,
		cpuBase: 5, cpuSpread: 100, netBase: 1000, netSpread: 9000,
	}
}

func newTestSim(t *testing.T, cfg simConfig) *sim {
	t.Helper()
	s, err := newSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleAt(s *sim, n int, T int64) *nSample {
	nd := s.nodes[n]
	return s.computeSample(nd, nd.rt.state.Load(), T, false)
}

// TestContainerFormulas recomputes container, pod and node values by hand.
func TestContainerFormulas(t *testing.T) {
	s := newTestSim(t, testConfig())
	const n, j = 2, 3
	T := int64(testEpoch + 3600 + 20) // q = T/10
	smp := sampleAt(s, n, T)
	q := uint64(T / 10)

	P := int64(testEpoch - 600 - (n*1009+j*101)%86400)
	if got := s.nodes[n].pods[j].start; got != P {
		t.Fatalf("pod start %d, want %d", got, P)
	}
	var sumCPU, sumTotal, sumWS, sumPF uint64
	for k := 0; k < 2; k++ {
		cm := uint64(n*131 + j*31 + k*7)
		c := 5 + (cm*37)%100
		S := P + 2 + int64(k)
		e := uint64(T - S)
		ws := (16+(cm*13)%240)*mib + (q%8)*256*kib
		cs := smp.pods[j].cs[k]
		if cs.start != S {
			t.Errorf("container %d start %d, want %d", k, cs.start, S)
		}
		if cs.cpu.nano != c*1e6 || cs.cpu.total != c*1e6*e {
			t.Errorf("container %d cpu %+v, want nano %d total %d", k, cs.cpu, c*1e6, c*1e6*e)
		}
		if cs.mem.ws != ws || cs.mem.usage != ws+8*mib || cs.mem.rss != ws*3/4 {
			t.Errorf("container %d memory %+v, want ws %d", k, cs.mem, ws)
		}
		if cs.mem.pf != (100+cm%50)*e || cs.mem.mpf != e/100 {
			t.Errorf("container %d page faults %d/%d", k, cs.mem.pf, cs.mem.mpf)
		}
		if cs.logsUsed != 4096+100*e || cs.rootfsUsed != (1+cm%64)*mib {
			t.Errorf("container %d fs %d/%d", k, cs.logsUsed, cs.rootfsUsed)
		}
		if (k == 0) != cs.mem.hasAvail {
			t.Errorf("container %d availableBytes present=%v", k, cs.mem.hasAvail)
		}
		sumCPU += c * 1e6
		sumTotal += c * 1e6 * e
		sumWS += ws
		sumPF += (100 + cm%50) * e
	}
	ps := smp.pods[j]
	ep := uint64(T - P)
	if ps.cpu.nano != sumCPU+1e6 || ps.cpu.total != sumTotal+1e6*ep {
		t.Errorf("pod cpu %+v, want %d/%d", ps.cpu, sumCPU+1e6, sumTotal+1e6*ep)
	}
	if ps.mem.ws != sumWS+mib || ps.mem.pf != sumPF {
		t.Errorf("pod memory %+v", ps.mem)
	}
	pm := uint64(n*131 + j*31)
	r := 1000 + (pm*7)%9000
	if ps.net.rx != r*ep || ps.net.tx != r/2*ep || ps.net.rxErr != ep/3600 {
		t.Errorf("pod network %+v, want rx %d", ps.net, r*ep)
	}

	// Node: boot time, system containers and sums.
	B := int64(testEpoch - 604800 - (n%1440)*60)
	eN := uint64(T - B)
	var podsNano, podsTotal, podsWS uint64
	for _, p := range smp.pods {
		podsNano += p.cpu.nano
		podsTotal += p.cpu.total
		podsWS += p.mem.ws
	}
	kc, rc := uint64(40+n%20), uint64(25+n%15)
	ek, er := uint64(T-(B+10)), uint64(T-(B+8))
	wantNano := podsNano + kc*1e6 + rc*1e6 + 150e6
	wantTotal := podsTotal + kc*1e6*ek + rc*1e6*er + 150e6*eN
	if smp.cpu.nano != wantNano || smp.cpu.total != wantTotal {
		t.Errorf("node cpu %+v, want %d/%d", smp.cpu, wantNano, wantTotal)
	}
	wantWS := podsWS + (64+n%32)*mib + (128+n%64)*mib + 512*mib
	if smp.mem.ws != wantWS || smp.mem.avail != 64*gib-wantWS {
		t.Errorf("node memory ws %d avail %d, want %d", smp.mem.ws, smp.mem.avail, wantWS)
	}
	if smp.sys[2].cpu.total != podsTotal || smp.sys[2].name != "pods" {
		t.Errorf("pods system container %+v", smp.sys[2])
	}
}

// TestSampleTimeSteps checks that the sample time steps on the interval, so scrapes in one
// interval see one sample and counters grow between intervals.
func TestSampleTimeSteps(t *testing.T) {
	s := newTestSim(t, testConfig())
	st := s.nodes[0].rt.state.Load()
	base := time.Unix(testEpoch+100, 0)
	for _, d := range []time.Duration{0, 3 * time.Second, 9*time.Second + 999*time.Millisecond} {
		if got := s.sampleTime(st, base.Add(d)); got != testEpoch+100 {
			t.Errorf("at +%v sample time %d, want %d", d, got, testEpoch+100)
		}
	}
	if got := s.sampleTime(st, base.Add(10*time.Second)); got != testEpoch+110 {
		t.Errorf("next interval: %d", got)
	}
	a, b := sampleAt(s, 1, testEpoch+100), sampleAt(s, 1, testEpoch+110)
	if b.cpu.total <= a.cpu.total || b.pods[0].cs[0].cpu.total <= a.pods[0].cs[0].cpu.total {
		t.Error("counters do not grow between samples")
	}
	if d := b.pods[0].cs[0].cpu.total - a.pods[0].cs[0].cpu.total; d != b.pods[0].cs[0].cpu.nano*10 {
		t.Errorf("container cpu grew %d over 10s at %d nanocores", d, b.pods[0].cs[0].cpu.nano)
	}
}

// TestRestart: a restart shows from the next sample on, with a new start time and counters
// from 0, while the pod's counters keep growing.
func TestRestart(t *testing.T) {
	s := newTestSim(t, testConfig())
	nd := s.nodes[1]
	T0 := int64(testEpoch + 200)
	before := sampleAt(s, 1, T0)
	s.update(nd, func(st *nodeState) {
		st.restarts[cref{2, 1}] = []restartRec{{at: T0 + 4, effT: T0 + 10}}
	})
	same := sampleAt(s, 1, T0)
	if same.pods[2].cs[1].cpu.total != before.pods[2].cs[1].cpu.total {
		t.Error("restart changed the current sample")
	}
	after := sampleAt(s, 1, T0+10)
	cs := after.pods[2].cs[1]
	if cs.start != T0+4 || cs.cpu.total != cs.cpu.nano*6 || cs.mem.pf != (100+cs.c.mix%50)*6 {
		t.Errorf("restarted container: start %d cpu %d", cs.start, cs.cpu.total)
	}
	if after.pods[2].cpu.total <= before.pods[2].cpu.total {
		t.Error("pod cpu dropped on a container restart")
	}
	if other := after.pods[2].cs[0]; other.start != nd.pods[2].containers[0].start0 {
		t.Error("the other container restarted too")
	}
}

// TestCounterReset: from the sample after the fault, counters restart from the reset time.
func TestCounterReset(t *testing.T) {
	s := newTestSim(t, testConfig())
	nd := s.nodes[0]
	T0 := int64(testEpoch + 500)
	s.update(nd, func(st *nodeState) { st.fault = &fault{kind: faultCounterReset, at: T0} })
	if a, b := sampleAt(s, 0, T0), newTestSim(t, testConfig()); a.cpu.total != sampleAt(b, 0, T0).cpu.total {
		t.Error("counter reset changed the current sample")
	}
	after := sampleAt(s, 0, T0+10)
	cs := after.pods[0].cs[0]
	if cs.cpu.total != cs.cpu.nano*10 || cs.start != nd.pods[0].containers[0].start0 {
		t.Errorf("after reset: cpu %d start %d", cs.cpu.total, cs.start)
	}
	// Every rate ran for exactly 10 s since the reset.
	var rx uint64
	for _, ps := range after.pods {
		rx += ps.net.rx
		if ps.cpu.total != ps.cpu.nano*10 || ps.net.rx != (1000+(ps.p.mix*7)%9000)*10 {
			t.Errorf("pod %s not reset: cpu %d rx %d", ps.p.name, ps.cpu.total, ps.net.rx)
		}
	}
	if after.cpu.total != after.cpu.nano*10 || after.eth0.rx != rx+2000*10 {
		t.Errorf("node counters not reset: cpu %d rx %d", after.cpu.total, after.eth0.rx)
	}
}

// TestStaleAndSkew: stale freezes the sample time, skew shifts it.
func TestStaleAndSkew(t *testing.T) {
	s := newTestSim(t, testConfig())
	now := time.Unix(testEpoch+1234, 0)
	st := &nodeState{fault: &fault{kind: faultStale, at: testEpoch + 1000}}
	if got := s.sampleTime(st, now); got != testEpoch+1000 {
		t.Errorf("stale: %d", got)
	}
	st = &nodeState{fault: &fault{kind: faultSkew, offset: -95}}
	if got := s.sampleTime(st, now); got != testEpoch+1130 {
		t.Errorf("skew: %d", got)
	}
}

func TestJitter(t *testing.T) {
	cfg := testConfig()
	cfg.jitter = 7
	s := newTestSim(t, cfg)
	T := int64(testEpoch + 70)
	smp := sampleAt(s, 3, T)
	if smp.t != T-3%7 {
		t.Errorf("node time %d", smp.t)
	}
	for _, ps := range smp.pods {
		if ps.t != T-int64(ps.p.mix%7) {
			t.Errorf("pod time %d", ps.t)
		}
		for _, cs := range ps.cs {
			if cs.t != T-int64(cs.c.mix%7) || cs.cpu.total != cs.c.cpuMilli*1e6*uint64(cs.t-cs.start) {
				t.Errorf("container time %d cpu %d", cs.t, cs.cpu.total)
			}
		}
	}
}

func TestNodeAddrs(t *testing.T) {
	cfg := testConfig()
	cfg.nodes = 600
	cfg.addrBase = netip.MustParseAddr("127.1.0.250")
	ips, ports, err := nodeAddrs(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for i, ip := range ips {
		last := ip.As4()[3]
		if last == 0 || last == 255 || seen[ip] || ports[i] != 10250 {
			t.Fatalf("node %d: %v:%d", i, ip, ports[i])
		}
		seen[ip] = true
	}
	want := []string{"127.1.0.250", "127.1.0.251", "127.1.0.252", "127.1.0.253", "127.1.0.254", "127.1.1.1"}
	for i, w := range want {
		if ips[i].String() != w {
			t.Errorf("node %d at %v, want %s", i, ips[i], w)
		}
	}
	cfg.listenMode = "ports"
	ips, ports, err = nodeAddrs(&cfg)
	if err != nil || ips[7].String() != "127.0.0.1" || ports[7] != 10257 {
		t.Errorf("ports mode: %v %v %v", err, ips[7], ports[7])
	}
	cfg.listenMode, cfg.addrBase = "addr", netip.MustParseAddr("127.255.255.200")
	if _, _, err := nodeAddrs(&cfg); err == nil {
		t.Error("running out of 127/8 is not an error")
	}
}

func TestNaming(t *testing.T) {
	cfg := testConfig()
	cfg.containers = 0
	s := newTestSim(t, cfg)
	nd := s.nodes[3]
	if nd.name != "node-0003" || nd.pods[4].name != "p004-node-0003" || nd.pods[4].namespace != "ns-0" {
		t.Errorf("names: %s %s %s", nd.name, nd.pods[4].name, nd.pods[4].namespace)
	}
	counts := map[int]int{}
	for _, p := range nd.pods {
		counts[len(p.containers)]++
		if p.containers[0].name != "app" {
			t.Error("first container is not app")
		}
	}
	if len(counts) != 3 {
		t.Errorf("containers per pod do not vary 1..3: %v", counts)
	}
}
