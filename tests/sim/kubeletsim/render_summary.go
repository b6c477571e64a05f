// SPDX-License-Identifier: Apache-2.0

// render_summary.go — writes a node's sample as the kubelet Summary API v1alpha1 JSON
// (GET /stats/summary), field names and order as in k8s.io/kubelet/pkg/apis/stats/v1alpha1.
//
// The fault modes of jw change how values are written; the few structural faults
// (wrongtypes: objects where arrays belong; partial: omitted fields) are decided here.
package main

// summaryOffsets records where the pods array's contents start and end in the output, so the
// huge/endless faults can repeat them without re-rendering.
type summaryOffsets struct{ podsStart, podsEnd int }

// renderSummary appends the Summary document for s to w.
func renderSummary(w *jw, cfg *simConfig, s *nSample) summaryOffsets {
	var off summaryOffsets
	w.open('{')
	w.objKey("node")
	renderNode(w, cfg, s)
	w.close('}')
	w.arrKey("pods")
	off.podsStart = len(w.b)
	for j := range s.pods {
		w.objElem()
		renderPod(w, cfg, s, &s.pods[j])
		w.close('}')
	}
	off.podsEnd = len(w.b)
	w.close(']')
	w.close('}')
	return off
}

func renderNode(w *jw, cfg *simConfig, s *nSample) {
	nd := s.nd
	w.kName("nodeName", nd.name)
	if w.mode == modeWrongTypes {
		w.objKey("systemContainers") // an object keyed by name instead of an array
	} else {
		w.arrKey("systemContainers")
	}
	for i := range s.sys {
		sc := &s.sys[i]
		if w.mode == modeWrongTypes {
			w.objKey(sc.name)
		} else {
			w.objElem()
		}
		w.kStr("name", sc.name)
		w.kTime("startTime", sc.start)
		renderCPU(w, cfg, s.t, &sc.cpu, nil)
		renderMem(w, cfg, s.t, &sc.mem, nil)
		w.close('}')
	}
	if w.mode == modeWrongTypes {
		w.close('}')
	} else {
		w.close(']')
	}
	w.kTime("startTime", nd.boot)
	renderCPU(w, cfg, s.t, &s.cpu, &s.psi.cpu)
	if !(w.mode == modePartial && nd.idx%2 == 1) {
		renderMem(w, cfg, s.t, &s.mem, &s.psi.mem)
	}
	if s.onlyCPUAndMemory {
		return
	}
	renderIO(w, cfg, s.t, &s.psi.io)
	w.objKey("network")
	w.kTime("time", s.t)
	renderIface(w, "eth0", &s.eth0)
	if w.mode == modeWrongTypes {
		w.objKey("interfaces")
		w.objKey("eth0")
		renderIface(w, "eth0", &s.eth0)
		w.close('}')
		w.objKey("cni0")
		renderIface(w, "cni0", &s.cni0)
		w.close('}')
		w.close('}')
	} else {
		w.arrKey("interfaces")
		w.objElem()
		renderIface(w, "eth0", &s.eth0)
		w.close('}')
		w.objElem()
		renderIface(w, "cni0", &s.cni0)
		w.close('}')
		w.close(']')
	}
	w.close('}')
	w.kFs("fs", s.t, &s.fs)
	w.objKey("runtime")
	w.kFs("imageFs", s.t, &s.imageFs)
	w.kFs("containerFs", s.t, &s.imageFs)
	w.close('}')
	w.objKey("rlimit")
	w.kTime("time", s.t)
	w.kU64("maxpid", s.maxPID)
	w.kU64("curproc", s.curProc)
	w.close('}')
	if cfg.swap {
		w.objKey("swap")
		w.kTime("time", s.t)
		w.kU64("swapAvailableBytes", 0)
		w.kU64("swapUsageBytes", 0)
		w.close('}')
	}
}

// Partial-mode omission rules, shared with the Prometheus renderer.
func partialNoCPU(p *pod, k int) bool { return (p.mix+uint64(k))%3 == 0 }
func partialNoMem(p *pod, k int) bool { return (p.mix+uint64(k))%3 == 1 }

func renderPod(w *jw, cfg *simConfig, s *nSample, ps *pSample) {
	p := ps.p
	if w.mode == modeWrongTypes {
		w.kStr("podRef", p.namespace+"/"+p.name)
	} else {
		w.objKey("podRef")
		w.kName("name", p.name)
		w.kName("namespace", p.namespace)
		w.kStr("uid", ps.uid)
		w.close('}')
	}
	w.kTime("startTime", p.start)
	w.arrKey("containers")
	for k := range ps.cs {
		w.objElem()
		renderContainer(w, cfg, s, p, k, &ps.cs[k])
		w.close('}')
	}
	w.close(']')
	renderCPU(w, cfg, ps.t, &ps.cpu, &ps.psi.cpu)
	renderMem(w, cfg, ps.t, &ps.mem, &ps.psi.mem)
	if s.onlyCPUAndMemory {
		return
	}
	renderIO(w, cfg, ps.t, &ps.psi.io)
	if !(w.mode == modePartial && p.idx%2 == 0) {
		w.objKey("network")
		w.kTime("time", ps.t)
		renderIface(w, "eth0", &ps.net)
		w.arrKey("interfaces")
		w.objElem()
		renderIface(w, "eth0", &ps.net)
		w.close('}')
		w.close(']')
		w.close('}')
	}
	if !(w.mode == modePartial && p.idx%3 == 1) {
		renderVolumes(w, s, ps)
	}
	eph := s.nodeFsWith(ps.ephUsed, ps.ephInodesUsed)
	w.kFs("ephemeral-storage", ps.t, &eph)
	w.objKey("process_stats")
	w.kU64("process_count", ps.proc)
	w.close('}')
	if cfg.swap {
		w.objKey("swap")
		w.kTime("time", ps.t)
		w.kU64("swapUsageBytes", 0)
		w.close('}')
	}
}

func renderVolumes(w *jw, s *nSample, ps *pSample) {
	p := ps.p
	asObj := w.mode == modeWrongTypes
	if asObj {
		w.objKey("volume")
	} else {
		w.arrKey("volume")
	}
	vol := func(name string, fs fsV, pvc bool) {
		if asObj {
			w.objKey(name)
		} else {
			w.objElem()
		}
		renderFs(w, ps.t, &fs)
		w.kStr("name", name)
		if pvc {
			w.objKey("pvcRef")
			w.kName("name", p.pvcName)
			w.kName("namespace", p.namespace)
			w.close('}')
		}
		w.close('}')
	}
	vol(p.apiVolume, apiVolume(), false)
	if p.hasEmptyDir {
		vol("cache", s.nodeFsWith(ps.cacheUsed, ps.cacheInodesUsed), false)
	}
	if p.hasPVC {
		vol("data", pvcVolume(ps), true)
	}
	if asObj {
		w.close('}')
	} else {
		w.close(']')
	}
}

func renderContainer(w *jw, cfg *simConfig, s *nSample, p *pod, k int, cs *cSample) {
	w.kName("name", cs.c.name)
	w.kTime("startTime", cs.start)
	partial := w.mode == modePartial
	if !(partial && partialNoCPU(p, k)) {
		renderCPU(w, cfg, cs.t, &cs.cpu, &cs.psi.cpu)
	}
	if !(partial && partialNoMem(p, k)) {
		renderMem(w, cfg, cs.t, &cs.mem, &cs.psi.mem)
	}
	if s.onlyCPUAndMemory {
		return
	}
	renderIO(w, cfg, cs.t, &cs.psi.io)
	fs := s.rootfsOf(cs)
	w.kFs("rootfs", cs.t, &fs)
	fs = s.logsOf(cs)
	w.kFs("logs", cs.t, &fs)
	if cfg.swap {
		w.objKey("swap")
		w.kTime("time", cs.t)
		w.kU64("swapUsageBytes", 0)
		w.close('}')
	}
}

func renderCPU(w *jw, cfg *simConfig, t int64, v *cpuV, psi *psiV) {
	w.objKey("cpu")
	w.kTime("time", t)
	if w.mode != modePartial { // a kubelet omits the rate until it has two samples
		w.kU64("usageNanoCores", v.nano)
	}
	w.kU64("usageCoreNanoSeconds", v.total)
	if cfg.psi && psi != nil {
		renderPSI(w, psi)
	}
	w.close('}')
}

func renderMem(w *jw, cfg *simConfig, t int64, v *memV, psi *psiV) {
	w.objKey("memory")
	w.kTime("time", t)
	if v.hasAvail {
		w.kU64("availableBytes", v.avail)
	}
	w.kU64("usageBytes", v.usage)
	w.kU64("workingSetBytes", v.ws)
	w.kU64("rssBytes", v.rss)
	w.kU64("pageFaults", v.pf)
	w.kU64("majorPageFaults", v.mpf)
	if cfg.psi && psi != nil {
		renderPSI(w, psi)
	}
	w.close('}')
}

func renderIO(w *jw, cfg *simConfig, t int64, psi *psiV) {
	if !cfg.psi {
		return
	}
	w.objKey("io")
	w.kTime("time", t)
	renderPSI(w, psi)
	w.close('}')
}

func renderPSI(w *jw, v *psiV) {
	w.objKey("psi")
	renderPSIData(w, "full", v.fullTotal, &v.full)
	renderPSIData(w, "some", v.someTotal, &v.some)
	w.close('}')
}

// renderPSIData writes one PSIData object under key k.
func renderPSIData(w *jw, k string, total uint64, avg *[3]float64) {
	w.objKey(k)
	w.kU64("total", total)
	w.kF64("avg10", avg[0])
	w.kF64("avg60", avg[1])
	w.kF64("avg300", avg[2])
	w.close('}')
}

func renderIface(w *jw, name string, v *netV) {
	w.kStr("name", name)
	w.kU64("rxBytes", v.rx)
	w.kU64("rxErrors", v.rxErr)
	w.kU64("txBytes", v.tx)
	w.kU64("txErrors", v.txErr)
}

// kFs writes an FsStats object under key k.
func (w *jw) kFs(k string, t int64, v *fsV) {
	w.objKey(k)
	renderFs(w, t, v)
	w.close('}')
}

func renderFs(w *jw, t int64, v *fsV) {
	w.kTime("time", t)
	w.kU64("availableBytes", v.avail)
	w.kU64("capacityBytes", v.capacity)
	w.kU64("usedBytes", v.used)
	w.kU64("inodesFree", v.inodesFree)
	w.kU64("inodes", v.inodes)
	w.kU64("inodesUsed", v.inodesUsed)
}
