// SPDX-License-Identifier: Apache-2.0

// manifest.go — the description of the simulated cluster a test needs to register matching
// Node and Pod objects in a real API server (GET /manifest, -manifest FILE): every node's
// address, port, capacity and labels, every pod's namespace, name, UID, labels, start time
// and containers with images and resource requests/limits.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

type manifestContainer struct {
	Name      string           `json:"name"`
	Image     string           `json:"image"`
	StartTime string           `json:"startTime"`
	Resources manifestResource `json:"resources"`
	// The model's constants, for tests that compute values by hand.
	CPUUsageMillicores  uint64 `json:"cpuUsageMillicores"`
	WorkingSetBaseBytes uint64 `json:"workingSetBaseBytes"`
	Mix                 uint64 `json:"mix"`
}

type manifestResource struct {
	Requests map[string]string `json:"requests"`
	Limits   map[string]string `json:"limits,omitempty"`
}

type manifestPod struct {
	Namespace   string              `json:"namespace"`
	Name        string              `json:"name"`
	UID         string              `json:"uid"`
	Registrable bool                `json:"registrable"`
	StartTime   string              `json:"startTime"`
	Labels      map[string]string   `json:"labels"`
	Containers  []manifestContainer `json:"containers"`
	Mix         uint64              `json:"mix"`
}

type manifestNode struct {
	Name        string            `json:"name"`
	Index       int               `json:"index"`
	Address     string            `json:"address"`
	Port        int               `json:"port"`
	Hostname    string            `json:"hostname"`
	BootTime    string            `json:"bootTime"`
	Capacity    map[string]string `json:"capacity"`
	Allocatable map[string]string `json:"allocatable"`
	Labels      map[string]string `json:"labels"`
	Pods        []manifestPod     `json:"pods"`
}

func cpuQty(milli uint64) string {
	if milli%1000 == 0 {
		return strconv.FormatUint(milli/1000, 10)
	}
	return strconv.FormatUint(milli, 10) + "m"
}

func memQty(b uint64) string {
	switch {
	case b%gib == 0:
		return strconv.FormatUint(b/gib, 10) + "Gi"
	case b%mib == 0:
		return strconv.FormatUint(b/mib, 10) + "Mi"
	case b%kib == 0:
		return strconv.FormatUint(b/kib, 10) + "Ki"
	}
	return strconv.FormatUint(b, 10)
}

func (s *sim) manifestNode(nd *node) manifestNode {
	st := nd.rt.state.Load()
	x := newSampleCtx(&s.cfg, nd, st, s.sampleTime(st, s.now()))
	mn := manifestNode{
		Name: nd.name, Index: nd.idx, Address: nd.ip.String(), Port: nd.port, Hostname: nd.name,
		BootTime: rfc3339(nd.boot),
		Capacity: map[string]string{
			"cpu": cpuQty(uint64(nd.cpuCores) * 1000), "memory": memQty(nd.memBytes),
			"pods": "110", "ephemeral-storage": memQty(nodeFsCapacity),
		},
		Allocatable: map[string]string{
			"cpu": cpuQty(uint64(nd.allocCPU)), "memory": memQty(nd.allocMem),
			"pods": "110", "ephemeral-storage": memQty(90 * gib),
		},
		Labels: map[string]string{
			"kubernetes.io/hostname":           nd.name,
			"kubernetes.io/os":                 "linux",
			"kubernetes.io/arch":               "amd64",
			"node.kubernetes.io/instance-type": nd.instType,
			"topology.kubernetes.io/zone":      nd.zone,
			"kubepulse.io/sim":                 "true",
		},
		Pods: make([]manifestPod, 0, len(nd.pods)),
	}
	for j, p := range nd.pods {
		mp := manifestPod{
			Namespace: p.namespace, Name: p.name, UID: x.podUID(j), Registrable: p.registrable,
			StartTime: rfc3339(p.start), Labels: map[string]string{}, Mix: p.mix,
		}
		for _, l := range p.labels {
			mp.Labels[l.key] = l.value
		}
		for k, c := range p.containers {
			mc := manifestContainer{
				Name: c.name, Image: c.image, StartTime: rfc3339(x.containerStart(j, k)),
				CPUUsageMillicores: c.cpuMilli, WorkingSetBaseBytes: c.wsBase, Mix: c.mix,
				Resources: manifestResource{Requests: map[string]string{
					"cpu": cpuQty(c.reqCPU), "memory": memQty(c.reqMem),
				}},
			}
			if c.limCPU > 0 || c.limMem > 0 {
				mc.Resources.Limits = map[string]string{}
				if c.limCPU > 0 {
					mc.Resources.Limits["cpu"] = cpuQty(c.limCPU)
				}
				if c.limMem > 0 {
					mc.Resources.Limits["memory"] = memQty(c.limMem)
				}
			}
			mp.Containers = append(mp.Containers, mc)
		}
		mn.Pods = append(mn.Pods, mp)
	}
	return mn
}

// writeManifest streams the manifest of nodes [from, to) to out, one node at a time so the
// whole document is never in memory.
func (s *sim) writeManifest(out io.Writer, from, to int) error {
	bw := bufio.NewWriterSize(out, 1<<16)
	header := map[string]any{
		"sampleIntervalSeconds": s.cfg.interval,
		"epoch":                 rfc3339(s.cfg.epoch),
		"epochUnix":             s.cfg.epoch,
		"jitterSeconds":         s.cfg.jitter,
		"listenMode":            s.cfg.listenMode,
		"tls":                   !s.plain,
		"nodeCount":             len(s.nodes),
		"podsPerNode":           s.cfg.pods,
		"containersPerPod":      s.cfg.containers,
		"namespaces":            s.cfg.namespaces,
		"swap":                  s.cfg.swap,
		"psi":                   s.cfg.psi,
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Splice "nodes" into the header object: {...,"nodes":[ ... ]}
	bw.Write(hb[:len(hb)-1])
	bw.WriteString(`,"nodes":[`)
	for i := from; i < to; i++ {
		if i > from {
			bw.WriteString(",\n")
		} else {
			bw.WriteString("\n")
		}
		b, err := json.Marshal(s.manifestNode(s.nodes[i]))
		if err != nil {
			return err
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	bw.WriteString("\n]}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	return nil
}
