// SPDX-License-Identifier: Apache-2.0

// model.go — the value formulas: what every number in a node's Summary is at sample time T.
//
// Every value is an exact integer function of (node n, pod j, container k, sample time T)
// plus the few events a test triggers through the control endpoint (container restarts, a
// counter reset). The same functions feed /stats/summary, /metrics/resource and /expected, so
// the three can never disagree.
//
// # Notation
//
//	I      sample interval in seconds (-sample-interval, default 10)
//	T      sample time: floor(now / I) * I. Two scrapes in the same interval see the same T and
//	       therefore byte-identical bodies.
//	E      epoch (-epoch; default: the simulator's start time floored to I)
//	J      -jitter in seconds (default 0). With J > 0 each entity has its own sample time
//	       t = T - o, o = node n % J, pod pm % J, container cm % J; with J = 0, t = T.
//	q      T / I (the sample index; drives the periodic part of gauges)
//	pm     pod mix       = n*131 + j*31
//	cm     container mix = n*131 + j*31 + k*7
//	el(t, s) = max(0, t - max(s, R)), with R the counter-reset time (see below) or 0
//	MiB    1048576, GiB 1073741824
//
// # Start times (RFC3339, whole seconds, UTC — the kubelet's metav1.Time format)
//
//	node boot   B  = E - 604800 - (n % 1440) * 60
//	pod start   P  = E - 600 - ((n*1009 + j*101) % 86400)
//	container   S0 = P + 2 + k; after POST /restart the restart's wall time (whole seconds)
//	            becomes S for samples T after the one current at the restart.
//	system containers: runtime B+8, kubelet B+10, pods B+12
//
// # Container k of pod j on node n (t = container time, e = el(t, S))
//
//	cpu.usageNanoCores        = c * 1e6     c = CB + (cm*37) % CS millicores
//	                          (CB = -cpu-base, default 5; CS = -cpu-spread, default 100)
//	cpu.usageCoreNanoSeconds  = c * 1e6 * e
//	memory.workingSetBytes    = ws = W + (q % 8) * 256KiB,  W = (16 + (cm*13) % 240) MiB
//	memory.usageBytes         = ws + 8 MiB
//	memory.rssBytes           = ws * 3 / 4
//	memory.pageFaults         = (100 + cm % 50) * e
//	memory.majorPageFaults    = e / 100
//	memory.availableBytes     = limit - ws, only for containers with a memory limit (k = 0)
//	rootfs.usedBytes          = (1 + cm % 64) MiB, rootfs.inodesUsed = 20 + cm % 200
//	rootfs.{available,capacity,inodes,inodesFree}Bytes = the node's imageFs values
//	logs.usedBytes            = 4096 + 100 * e, logs.inodesUsed = 1
//	logs.{available,capacity,inodes,inodesFree} = the node's fs values
//	swap.swapUsageBytes       = 0
//
// # Pod j on node n (t = pod time, ep = el(t, P), e0_k = el(t, S0_k))
//
// A pod's cgroup outlives container restarts, so pod counters use the original starts S0_k.
//
//	cpu.usageNanoCores        = Σ c_k * 1e6 + 1e6
//	cpu.usageCoreNanoSeconds  = Σ c_k * 1e6 * e0_k + 1e6 * ep
//	memory.workingSetBytes    = Σ ws_k + 1 MiB;  usageBytes = Σ usage_k + 1 MiB
//	memory.rssBytes           = Σ rss_k + 512 KiB
//	memory.pageFaults         = Σ (100 + cm_k % 50) * e0_k;  majorPageFaults = Σ e0_k / 100
//	memory.availableBytes     = Σ limit_k - ws, only if every container has a memory limit
//	network (eth0)            r = NB + (pm*7) % NS bytes/s
//	                          (NB = -net-base, default 1000; NS = -net-spread, default 9000)
//	                          rxBytes = r * ep, txBytes = (r / 2) * ep,
//	                          rxErrors = ep / 3600, txErrors = ep / 7200
//	volume kube-api-access-*  capacity 64 MiB, used 12288, available = capacity - used,
//	                          inodes 16384, inodesUsed 9, inodesFree 16375
//	volume "data" (j % 3 = 0) PVC data-<pod>: capacity 10 GiB,
//	                          used = min(capacity, (1 + pm % 900) MiB + 1024 * ep),
//	                          inodes 655360, inodesUsed 100 + pm % 1000, free/available = rest
//	volume "cache" (j % 2 = 1) emptyDir: used (pm % 64) MiB, inodesUsed 5 + pm % 20,
//	                          capacity/available/inodes/inodesFree = the node's fs values
//	ephemeral-storage.usedBytes  = Σ rootfs.used_k + Σ logs.used_k + cache.used
//	ephemeral-storage.inodesUsed = Σ rootfs.inodesUsed_k + Σ logs.inodesUsed_k + cache.inodesUsed
//	                          (other fields: the node's fs values)
//	process_stats.process_count = Σ (1 + cm_k % 4)
//
// # Node n (t = node time, eN = el(t, B); "Σ pods" are the pod values computed at t)
//
//	kubelet   c = 40 + n % 20,  ws = (64 + n % 32) MiB,  usage = ws + 16 MiB,  pf = 300 * e,
//	          mpf = e / 1000 (e = el(t, B+10))
//	runtime   c = 25 + n % 15,  ws = (128 + n % 64) MiB, usage = ws + 64 MiB,  pf = 200 * e,
//	          mpf = e / 2000 (e = el(t, B+8));  both: rss = ws * 3 / 4, total = c * 1e6 * e
//	pods      Σ pods of cpu and memory; availableBytes = allocatable memory - ws (>= 0)
//	cpu.usageNanoCores        = Σ pods + kubelet + runtime + 150e6
//	cpu.usageCoreNanoSeconds  = Σ pods + kubelet + runtime + 150e6 * eN
//	memory.workingSetBytes    = Σ pods + kubelet + runtime + 512 MiB
//	memory.usageBytes         = ws + 1 GiB;  availableBytes = capacity - ws (>= 0)
//	memory.rssBytes           = Σ pods + kubelet + runtime + 256 MiB
//	memory.pageFaults         = Σ pods + kubelet + runtime + 1000 * eN
//	memory.majorPageFaults    = Σ pods + kubelet + runtime + eN / 50
//	network eth0              rx = Σ pod rx + 2000 * eN, tx = Σ pod tx + 1000 * eN,
//	                          rxErrors = eN / 86400, txErrors = 0 (also the default interface)
//	network cni0              rx = Σ pod rx, tx = Σ pod tx, errors 0
//	fs                        capacity 100 GiB, used = 10 GiB + Σ pod ephemeral used,
//	                          inodes 6553600, inodesUsed = 150000 + Σ pod ephemeral inodesUsed
//	runtime.imageFs (= containerFs) capacity 100 GiB, used = 6 GiB + (n % 8) * 256 MiB,
//	                          available = fs.available, inodes 6553600,
//	                          inodesUsed = 90000 + n % 1000, inodesFree = fs.inodesFree
//	rlimit                    maxpid 4194304, curproc = 250 + Σ process_count
//	capacity                  cpu {4,8,16}[n%3] cores, memory {16,32,64}[n%3] GiB;
//	                          allocatable cpu = cores*1000 - 100 m, memory = capacity - 768 MiB
//
// # PSI (only with -psi), for an entity with mix m (node: n) and elapsed e
//
//	cpu: some.total = (m%7 + 1) * 1000 * e, full.total = (m%7) * 500 * e (microseconds)
//	memory: the same with 100 and 50, io: with 200 and 100
//	some.avg10/avg60/avg300 = (m%100)/100, (m%60)/100, (m%30)/100; full = (m%50)/100,
//	(m%30)/100, (m%15)/100
//
// # Counter reset (fault kind counterreset)
//
// POST at sample T0 sets R = T0 for samples T > T0: every cumulative counter (cpu totals,
// page faults, network bytes/errors, PSI totals, log bytes, PVC growth) restarts from
// el(t, max(start, R)) while start times stay unchanged — a reset a collector must detect
// from the drop alone. DELETE removes R again.
package main

// Sample value holders. Plain uint64s: the renderers decide which are printed.
type cpuV struct{ nano, total uint64 }

type memV struct {
	avail, usage, ws, rss, pf, mpf uint64
	hasAvail                       bool
}

type netV struct{ rx, rxErr, tx, txErr uint64 }

type fsV struct{ avail, capacity, used, inodesFree, inodes, inodesUsed uint64 }

type psiV struct {
	someTotal, fullTotal uint64
	some, full           [3]float64 // avg10, avg60, avg300
}

type psiSet struct{ cpu, mem, io psiV }

type cSample struct {
	c                            *container
	t, start                     int64
	cpu                          cpuV
	mem                          memV
	rootfsUsed, rootfsInodesUsed uint64
	logsUsed, logsInodesUsed     uint64
	psi                          psiSet
}

type pSample struct {
	p                            *pod
	uid                          string
	t                            int64
	cpu                          cpuV
	mem                          memV
	net                          netV
	pvcUsed, pvcInodesUsed       uint64
	cacheUsed, cacheInodesUsed   uint64
	ephUsed, ephInodesUsed, proc uint64
	psi                          psiSet
	cs                           []cSample
}

type sysSample struct {
	name  string
	start int64
	cpu   cpuV
	mem   memV
}

type nSample struct {
	nd               *node
	T, t             int64
	sys              [3]sysSample
	cpu              cpuV
	mem              memV
	eth0, cni0       netV
	fs, imageFs      fsV
	maxPID, curProc  uint64
	psi              psiSet
	pods             []pSample
	cbuf             []cSample
	onlyCPUAndMemory bool
}

const (
	nodeFsCapacity   = 100 * gib
	nodeFsInodes     = 6553600
	apiVolCapacity   = 64 * mib
	apiVolUsed       = 12288
	apiVolInodes     = 16384
	apiVolInodesUsed = 9
	pvcCapacity      = 10 * gib
	pvcInodes        = 655360
	maxPID           = 4194304
)

// Static formulas shared with world.go (and so with the manifest).
func nodeBoot(cfg *simConfig, n int) int64 {
	return cfg.epoch - 604800 - int64(n%1440)*60
}

func podStart(cfg *simConfig, n, j int) int64 {
	return cfg.epoch - 600 - int64((n*1009+j*101)%86400)
}

func podMix(n, j int) uint64          { return uint64(n)*131 + uint64(j)*31 }
func containerMix(n, j, k int) uint64 { return podMix(n, j) + uint64(k)*7 }
func containerCPUMilli(cfg *simConfig, cm uint64) uint64 {
	return cfg.cpuBase + (cm*37)%cfg.cpuSpread
}

func podNetRate(cfg *simConfig, pm uint64) uint64 { return cfg.netBase + (pm*7)%cfg.netSpread }
func containerWSBase(cm uint64) uint64            { return (16 + (cm*13)%240) * mib }

// sampleCtx carries what a computation needs besides the static world.
type sampleCtx struct {
	cfg   *simConfig
	nd    *node
	st    *nodeState
	T     int64
	reset int64 // R, or 0
}

func newSampleCtx(cfg *simConfig, nd *node, st *nodeState, T int64) *sampleCtx {
	x := &sampleCtx{cfg: cfg, nd: nd, st: st, T: T}
	if st != nil && st.fault != nil && st.fault.kind == faultCounterReset && T > st.fault.at {
		x.reset = st.fault.at
	}
	return x
}

// el is the elapsed time of a cumulative counter that started at start, seen at t.
func (x *sampleCtx) el(t, start int64) uint64 {
	if x.reset > start {
		start = x.reset
	}
	if t <= start {
		return 0
	}
	return uint64(t - start)
}

// entityTime is T minus the entity's jitter offset.
func (x *sampleCtx) entityTime(mix uint64) int64 {
	if x.cfg.jitter <= 1 {
		return x.T
	}
	return x.T - int64(mix%uint64(x.cfg.jitter))
}

// containerStart is the current start time of a container: the latest restart that is in
// effect for sample T, else the original start.
func (x *sampleCtx) containerStart(j, k int) int64 {
	c := x.nd.pods[j].containers[k]
	s := c.start0
	if x.st == nil {
		return s
	}
	for _, r := range x.st.restarts[cref{j, k}] {
		if r.effT <= x.T && r.at > s {
			s = r.at
		}
	}
	return s
}

func (x *sampleCtx) podUID(j int) string {
	if x.st != nil {
		if u, ok := x.st.uids[j]; ok {
			return u
		}
	}
	return x.nd.pods[j].uid
}

func psiOf(m, e, scale uint64) psiV {
	return psiV{
		someTotal: (m%7 + 1) * scale * e,
		fullTotal: (m % 7) * (scale / 2) * e,
		some:      [3]float64{float64(m%100) / 100, float64(m%60) / 100, float64(m%30) / 100},
		full:      [3]float64{float64(m%50) / 100, float64(m%30) / 100, float64(m%15) / 100},
	}
}

func psiSetOf(m, e uint64) psiSet {
	return psiSet{cpu: psiOf(m, e, 1000), mem: psiOf(m, e, 100), io: psiOf(m, e, 200)}
}

// containerWS is the working set of a container at sample T (a gauge: no elapsed time).
func (x *sampleCtx) containerWS(c *container) uint64 {
	q := uint64(x.T / x.cfg.interval)
	return c.wsBase + (q%8)*256*kib
}

// containerAt fills the container-level values of container k of pod j at time t.
func (x *sampleCtx) containerAt(j, k int, t int64, out *cSample) {
	c := x.nd.pods[j].containers[k]
	start := x.containerStart(j, k)
	e := x.el(t, start)
	ws := x.containerWS(c)
	*out = cSample{
		c: c, t: t, start: start,
		cpu: cpuV{nano: c.cpuMilli * 1e6, total: c.cpuMilli * 1e6 * e},
		mem: memV{
			usage: ws + 8*mib, ws: ws, rss: ws * 3 / 4,
			pf: (100 + c.mix%50) * e, mpf: e / 100,
		},
		rootfsUsed:       (1 + c.mix%64) * mib,
		rootfsInodesUsed: 20 + c.mix%200,
		logsUsed:         4096 + 100*e,
		logsInodesUsed:   1,
	}
	if c.limMem > 0 {
		out.mem.hasAvail = true
		if c.limMem > ws {
			out.mem.avail = c.limMem - ws
		}
	}
	if x.cfg.psi {
		out.psi = psiSetOf(c.mix, e)
	}
}

// podAt fills the pod-level values of pod j at time t (not its container list).
func (x *sampleCtx) podAt(j int, t int64, out *pSample) {
	p := x.nd.pods[j]
	ep := x.el(t, p.start)
	*out = pSample{p: p, uid: x.podUID(j), t: t}
	var limits uint64
	allLimited := true
	var cs cSample
	for k, c := range p.containers {
		x.containerAt(j, k, t, &cs)
		e0 := x.el(t, c.start0)
		out.cpu.nano += cs.cpu.nano
		out.cpu.total += c.cpuMilli * 1e6 * e0
		out.mem.ws += cs.mem.ws
		out.mem.usage += cs.mem.usage
		out.mem.rss += cs.mem.rss
		out.mem.pf += (100 + c.mix%50) * e0
		out.mem.mpf += e0 / 100
		out.ephUsed += cs.rootfsUsed + cs.logsUsed
		out.ephInodesUsed += cs.rootfsInodesUsed + cs.logsInodesUsed
		out.proc += 1 + c.mix%4
		if c.limMem == 0 {
			allLimited = false
		}
		limits += c.limMem
	}
	out.cpu.nano += 1e6
	out.cpu.total += 1e6 * ep
	out.mem.ws += mib
	out.mem.usage += mib
	out.mem.rss += 512 * kib
	if allLimited && len(p.containers) > 0 {
		out.mem.hasAvail = true
		if limits > out.mem.ws {
			out.mem.avail = limits - out.mem.ws
		}
	}
	r := podNetRate(x.cfg, p.mix)
	out.net = netV{rx: r * ep, tx: (r / 2) * ep, rxErr: ep / 3600, txErr: ep / 7200}
	if p.hasPVC {
		out.pvcUsed = min((1+p.mix%900)*mib+1024*ep, uint64(pvcCapacity))
		out.pvcInodesUsed = 100 + p.mix%1000
	}
	if p.hasEmptyDir {
		out.cacheUsed = (p.mix % 64) * mib
		out.cacheInodesUsed = 5 + p.mix%20
		out.ephUsed += out.cacheUsed
		out.ephInodesUsed += out.cacheInodesUsed
	}
	if x.cfg.psi {
		out.psi = psiSetOf(p.mix, ep)
	}
}

func sysAt(x *sampleCtx, name string, start int64, milli, ws, usageExtra, pfRate, mpfDiv uint64,
	t int64) sysSample {
	e := x.el(t, start)
	return sysSample{
		name: name, start: start,
		cpu: cpuV{nano: milli * 1e6, total: milli * 1e6 * e},
		mem: memV{usage: ws + usageExtra, ws: ws, rss: ws * 3 / 4, pf: pfRate * e, mpf: e / mpfDiv},
	}
}

// compute builds the whole sample of the node at T into s (whose buffers it reuses).
func (x *sampleCtx) compute(s *nSample) {
	nd, n := x.nd, uint64(x.nd.idx)
	s.nd, s.T = nd, x.T
	s.t = x.entityTime(n)
	t := s.t
	B := nd.boot
	eN := x.el(t, B)

	// Pods and containers at their own times, for rendering.
	total := 0
	for _, p := range nd.pods {
		total += len(p.containers)
	}
	if cap(s.pods) < len(nd.pods) {
		s.pods = make([]pSample, len(nd.pods))
	}
	s.pods = s.pods[:len(nd.pods)]
	if cap(s.cbuf) < total {
		s.cbuf = make([]cSample, total)
	}
	s.cbuf = s.cbuf[:total]
	off := 0
	for j, p := range nd.pods {
		ps := &s.pods[j]
		x.podAt(j, x.entityTime(p.mix), ps)
		ps.cs = s.cbuf[off : off+len(p.containers) : off+len(p.containers)]
		off += len(p.containers)
		for k, c := range p.containers {
			x.containerAt(j, k, x.entityTime(c.mix), &ps.cs[k])
		}
	}

	// The node-level sums need every pod at node time: the rendered pods when all times are
	// equal, else a second pass.
	var sumPods, tmp pSample
	for j := range nd.pods {
		ps := &s.pods[j]
		if x.cfg.jitter > 1 {
			x.podAt(j, t, &tmp)
			ps = &tmp
		}
		sumPods.cpu.nano += ps.cpu.nano
		sumPods.cpu.total += ps.cpu.total
		sumPods.mem.ws += ps.mem.ws
		sumPods.mem.usage += ps.mem.usage
		sumPods.mem.rss += ps.mem.rss
		sumPods.mem.pf += ps.mem.pf
		sumPods.mem.mpf += ps.mem.mpf
		sumPods.net.rx += ps.net.rx
		sumPods.net.tx += ps.net.tx
		sumPods.ephUsed += ps.ephUsed
		sumPods.ephInodesUsed += ps.ephInodesUsed
		sumPods.proc += ps.proc
	}

	kub := sysAt(x, "kubelet", B+10, 40+n%20, (64+n%32)*mib, 16*mib, 300, 1000, t)
	rtm := sysAt(x, "runtime", B+8, 25+n%15, (128+n%64)*mib, 64*mib, 200, 2000, t)
	pods := sysSample{name: "pods", start: B + 12, cpu: sumPods.cpu, mem: sumPods.mem}
	pods.mem.hasAvail = true
	if nd.allocMem > pods.mem.ws {
		pods.mem.avail = nd.allocMem - pods.mem.ws
	}
	s.sys = [3]sysSample{kub, rtm, pods}

	s.cpu = cpuV{
		nano:  sumPods.cpu.nano + kub.cpu.nano + rtm.cpu.nano + 150e6,
		total: sumPods.cpu.total + kub.cpu.total + rtm.cpu.total + 150e6*eN,
	}
	ws := sumPods.mem.ws + kub.mem.ws + rtm.mem.ws + 512*mib
	s.mem = memV{
		ws: ws, usage: ws + gib, hasAvail: true,
		rss: sumPods.mem.rss + kub.mem.rss + rtm.mem.rss + 256*mib,
		pf:  sumPods.mem.pf + kub.mem.pf + rtm.mem.pf + 1000*eN,
		mpf: sumPods.mem.mpf + kub.mem.mpf + rtm.mem.mpf + eN/50,
	}
	if nd.memBytes > ws {
		s.mem.avail = nd.memBytes - ws
	}
	s.eth0 = netV{rx: sumPods.net.rx + 2000*eN, tx: sumPods.net.tx + 1000*eN, rxErr: eN / 86400}
	s.cni0 = netV{rx: sumPods.net.rx, tx: sumPods.net.tx}
	used := 10*gib + sumPods.ephUsed
	iused := 150000 + sumPods.ephInodesUsed
	s.fs = fsV{capacity: nodeFsCapacity, used: used, inodes: nodeFsInodes, inodesUsed: iused}
	s.fs.avail = sub0(nodeFsCapacity, used)
	s.fs.inodesFree = sub0(nodeFsInodes, iused)
	s.imageFs = fsV{
		capacity: nodeFsCapacity, used: 6*gib + (n%8)*256*mib, avail: s.fs.avail,
		inodes: nodeFsInodes, inodesUsed: 90000 + n%1000, inodesFree: s.fs.inodesFree,
	}
	s.maxPID = maxPID
	s.curProc = 250 + sumPods.proc
	if x.cfg.psi {
		s.psi = psiSetOf(n, eN)
	}
}

func sub0(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// fs views derived from the node for container and pod filesystems.
func (s *nSample) rootfsOf(cs *cSample) fsV {
	return fsV{
		avail: s.imageFs.avail, capacity: s.imageFs.capacity, used: cs.rootfsUsed,
		inodesFree: s.imageFs.inodesFree, inodes: s.imageFs.inodes, inodesUsed: cs.rootfsInodesUsed,
	}
}

func (s *nSample) logsOf(cs *cSample) fsV {
	return fsV{
		avail: s.fs.avail, capacity: s.fs.capacity, used: cs.logsUsed,
		inodesFree: s.fs.inodesFree, inodes: s.fs.inodes, inodesUsed: cs.logsInodesUsed,
	}
}

func (s *nSample) nodeFsWith(used, inodesUsed uint64) fsV {
	return fsV{
		avail: s.fs.avail, capacity: s.fs.capacity, used: used,
		inodesFree: s.fs.inodesFree, inodes: s.fs.inodes, inodesUsed: inodesUsed,
	}
}

func apiVolume() fsV {
	return fsV{
		avail: apiVolCapacity - apiVolUsed, capacity: apiVolCapacity, used: apiVolUsed,
		inodesFree: apiVolInodes - apiVolInodesUsed, inodes: apiVolInodes,
		inodesUsed: apiVolInodesUsed,
	}
}

func pvcVolume(ps *pSample) fsV {
	return fsV{
		avail: pvcCapacity - ps.pvcUsed, capacity: pvcCapacity, used: ps.pvcUsed,
		inodesFree: pvcInodes - ps.pvcInodesUsed, inodes: pvcInodes, inodesUsed: ps.pvcInodesUsed,
	}
}
