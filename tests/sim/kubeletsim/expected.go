// SPDX-License-Identifier: Apache-2.0

// expected.go — converts a computed sample into the typed Summary (types.go). This is the
// slow, obviously-correct path behind GET /expected; the tests check that the fast renderer
// produces exactly what encoding/json makes of it.
package main

import "time"

func p64(v uint64) *uint64 { return &v }
func pi64(v int64) *int64  { return &v }

func rfc3339(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

func toCPU(cfg *simConfig, t int64, v cpuV, psi *psiV) *CPUStats {
	c := &CPUStats{Time: rfc3339(t), UsageNanoCores: p64(v.nano), UsageCoreNanoSeconds: p64(v.total)}
	if cfg.psi && psi != nil {
		c.PSI = toPSI(psi)
	}
	return c
}

func toMem(cfg *simConfig, t int64, v memV, psi *psiV) *MemoryStats {
	m := &MemoryStats{
		Time: rfc3339(t), UsageBytes: p64(v.usage), WorkingSetBytes: p64(v.ws),
		RSSBytes: p64(v.rss), PageFaults: p64(v.pf), MajorPageFaults: p64(v.mpf),
	}
	if v.hasAvail {
		m.AvailableBytes = p64(v.avail)
	}
	if cfg.psi && psi != nil {
		m.PSI = toPSI(psi)
	}
	return m
}

func toIO(cfg *simConfig, t int64, psi *psiV) *IOStats {
	if !cfg.psi {
		return nil
	}
	return &IOStats{Time: rfc3339(t), PSI: toPSI(psi)}
}

func toPSI(v *psiV) *PSIStats {
	return &PSIStats{
		Full: PSIData{Total: v.fullTotal, Avg10: v.full[0], Avg60: v.full[1], Avg300: v.full[2]},
		Some: PSIData{Total: v.someTotal, Avg10: v.some[0], Avg60: v.some[1], Avg300: v.some[2]},
	}
}

func toFs(t int64, v fsV) *FsStats {
	return &FsStats{
		Time: rfc3339(t), AvailableBytes: p64(v.avail), CapacityBytes: p64(v.capacity),
		UsedBytes: p64(v.used), InodesFree: p64(v.inodesFree), Inodes: p64(v.inodes),
		InodesUsed: p64(v.inodesUsed),
	}
}

func toIface(name string, v netV) InterfaceStats {
	return InterfaceStats{
		Name: name, RxBytes: p64(v.rx), RxErrors: p64(v.rxErr), TxBytes: p64(v.tx),
		TxErrors: p64(v.txErr),
	}
}

func toSwap(cfg *simConfig, t int64, withAvail bool) *SwapStats {
	if !cfg.swap {
		return nil
	}
	s := &SwapStats{Time: rfc3339(t), SwapUsageBytes: p64(0)}
	if withAvail {
		s.SwapAvailableBytes = p64(0)
	}
	return s
}

// toSummary builds the Summary a normal (fault-free) render of s encodes.
func toSummary(cfg *simConfig, s *nSample) *Summary {
	nd := s.nd
	out := &Summary{Pods: []PodStats{}}
	ns := &out.Node
	ns.NodeName = nd.name
	for _, sc := range s.sys {
		ns.SystemContainers = append(ns.SystemContainers, ContainerStats{
			Name: sc.name, StartTime: rfc3339(sc.start),
			CPU: toCPU(cfg, s.t, sc.cpu, nil), Memory: toMem(cfg, s.t, sc.mem, nil),
		})
	}
	ns.StartTime = rfc3339(nd.boot)
	ns.CPU = toCPU(cfg, s.t, s.cpu, &s.psi.cpu)
	ns.Memory = toMem(cfg, s.t, s.mem, &s.psi.mem)
	if !s.onlyCPUAndMemory {
		ns.IO = toIO(cfg, s.t, &s.psi.io)
		ns.Network = &NetworkStats{
			Time: rfc3339(s.t), InterfaceStats: toIface("eth0", s.eth0),
			Interfaces: []InterfaceStats{toIface("eth0", s.eth0), toIface("cni0", s.cni0)},
		}
		ns.Fs = toFs(s.t, s.fs)
		ns.Runtime = &RuntimeStats{ImageFs: toFs(s.t, s.imageFs), ContainerFs: toFs(s.t, s.imageFs)}
		ns.Rlimit = &RlimitStats{
			Time: rfc3339(s.t), MaxPID: pi64(int64(s.maxPID)),
			NumOfRunningProcesses: pi64(int64(s.curProc)),
		}
		ns.Swap = toSwap(cfg, s.t, true)
	}
	for j := range s.pods {
		out.Pods = append(out.Pods, toPod(cfg, s, &s.pods[j]))
	}
	return out
}

func toPod(cfg *simConfig, s *nSample, ps *pSample) PodStats {
	p := ps.p
	out := PodStats{
		PodRef:     PodReference{Name: p.name, Namespace: p.namespace, UID: ps.uid},
		StartTime:  rfc3339(p.start),
		Containers: []ContainerStats{},
	}
	for k := range ps.cs {
		cs := &ps.cs[k]
		c := ContainerStats{
			Name: cs.c.name, StartTime: rfc3339(cs.start),
			CPU:    toCPU(cfg, cs.t, cs.cpu, &cs.psi.cpu),
			Memory: toMem(cfg, cs.t, cs.mem, &cs.psi.mem),
		}
		if !s.onlyCPUAndMemory {
			c.IO = toIO(cfg, cs.t, &cs.psi.io)
			c.Rootfs = toFs(cs.t, s.rootfsOf(cs))
			c.Logs = toFs(cs.t, s.logsOf(cs))
			c.Swap = toSwap(cfg, cs.t, false)
		}
		out.Containers = append(out.Containers, c)
	}
	out.CPU = toCPU(cfg, ps.t, ps.cpu, &ps.psi.cpu)
	out.Memory = toMem(cfg, ps.t, ps.mem, &ps.psi.mem)
	if s.onlyCPUAndMemory {
		return out
	}
	out.IO = toIO(cfg, ps.t, &ps.psi.io)
	out.Network = &NetworkStats{
		Time: rfc3339(ps.t), InterfaceStats: toIface("eth0", ps.net),
		Interfaces: []InterfaceStats{toIface("eth0", ps.net)},
	}
	vol := func(name string, fs fsV) VolumeStats {
		return VolumeStats{FsStats: *toFs(ps.t, fs), Name: name}
	}
	out.VolumeStats = append(out.VolumeStats, vol(p.apiVolume, apiVolume()))
	if p.hasEmptyDir {
		out.VolumeStats = append(out.VolumeStats,
			vol("cache", s.nodeFsWith(ps.cacheUsed, ps.cacheInodesUsed)))
	}
	if p.hasPVC {
		v := vol("data", pvcVolume(ps))
		v.PVCRef = &PVCReference{Name: p.pvcName, Namespace: p.namespace}
		out.VolumeStats = append(out.VolumeStats, v)
	}
	out.EphemeralStorage = toFs(ps.t, s.nodeFsWith(ps.ephUsed, ps.ephInodesUsed))
	out.ProcessStats = &ProcessStats{ProcessCount: p64(ps.proc)}
	out.Swap = toSwap(cfg, ps.t, false)
	return out
}
