// SPDX-License-Identifier: Apache-2.0

// pods.go — the kubelet's GET /pods: a v1.PodList of the pods a simulated node runs, built
// from the same world (world.go) and events (container restarts, reported UIDs) as its
// Summary, so a collector that joins the two (Telegraf's inputs.kubernetes reads /pods on
// every scrape for container images and pod labels) sees what a real kubelet would give it.
//
// The kubelet encodes its pod manager's objects compactly with the v1 codec; so do we, with
// encoding/json over the structs below (only the fields a kubelet's pod carries that a
// consumer may read: no managedFields, annotations or tolerations). Pods with names that are
// not valid Kubernetes names (-hostile-names) are Summary-only and never listed, as they
// could never exist in a pod manager.
package main

import (
	"encoding/json"
	"fmt"
)

type podList struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Metadata   struct{}       `json:"metadata"`
	Items      []podListEntry `json:"items"`
}

type podListEntry struct {
	Metadata podMeta   `json:"metadata"`
	Spec     podSpec   `json:"spec"`
	Status   podStatus `json:"status"`
}

type ownerRef struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         bool   `json:"controller"`
	BlockOwnerDeletion bool   `json:"blockOwnerDeletion"`
}

type podMeta struct {
	Name              string            `json:"name"`
	GenerateName      string            `json:"generateName,omitempty"`
	Namespace         string            `json:"namespace"`
	UID               string            `json:"uid"`
	ResourceVersion   string            `json:"resourceVersion"`
	CreationTimestamp string            `json:"creationTimestamp"`
	Labels            map[string]string `json:"labels,omitempty"`
	OwnerReferences   []ownerRef        `json:"ownerReferences,omitempty"`
}

type podVolume struct {
	Name                  string        `json:"name"`
	EmptyDir              *struct{}     `json:"emptyDir,omitempty"`
	PersistentVolumeClaim *pvcVolumeSrc `json:"persistentVolumeClaim,omitempty"`
	Projected             *projectedSrc `json:"projected,omitempty"`
}

type pvcVolumeSrc struct {
	ClaimName string `json:"claimName"`
}

type projectedSrc struct {
	Sources     []map[string]any `json:"sources"`
	DefaultMode int              `json:"defaultMode"`
}

type volumeMount struct {
	Name      string `json:"name"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	MountPath string `json:"mountPath"`
}

type podContainer struct {
	Name                     string           `json:"name"`
	Image                    string           `json:"image"`
	Resources                manifestResource `json:"resources"`
	VolumeMounts             []volumeMount    `json:"volumeMounts"`
	TerminationMessagePath   string           `json:"terminationMessagePath"`
	TerminationMessagePolicy string           `json:"terminationMessagePolicy"`
	ImagePullPolicy          string           `json:"imagePullPolicy"`
}

type podSpec struct {
	Volumes                       []podVolume    `json:"volumes"`
	Containers                    []podContainer `json:"containers"`
	RestartPolicy                 string         `json:"restartPolicy"`
	TerminationGracePeriodSeconds int            `json:"terminationGracePeriodSeconds"`
	DNSPolicy                     string         `json:"dnsPolicy"`
	ServiceAccountName            string         `json:"serviceAccountName"`
	ServiceAccount                string         `json:"serviceAccount"`
	NodeName                      string         `json:"nodeName"`
	SecurityContext               struct{}       `json:"securityContext"`
	SchedulerName                 string         `json:"schedulerName"`
	Priority                      int            `json:"priority"`
	EnableServiceLinks            bool           `json:"enableServiceLinks"`
	PreemptionPolicy              string         `json:"preemptionPolicy"`
}

type podCondition struct {
	Type               string  `json:"type"`
	Status             string  `json:"status"`
	LastProbeTime      *string `json:"lastProbeTime"`
	LastTransitionTime string  `json:"lastTransitionTime"`
}

type podIP struct {
	IP string `json:"ip"`
}

type stateRunning struct {
	StartedAt string `json:"startedAt"`
}

type stateTerminated struct {
	ExitCode    int    `json:"exitCode"`
	Reason      string `json:"reason"`
	StartedAt   string `json:"startedAt"`
	FinishedAt  string `json:"finishedAt"`
	ContainerID string `json:"containerID"`
}

type containerState struct {
	Running    *stateRunning    `json:"running,omitempty"`
	Terminated *stateTerminated `json:"terminated,omitempty"`
}

type containerStatus struct {
	Name         string         `json:"name"`
	State        containerState `json:"state"`
	LastState    containerState `json:"lastState"`
	Ready        bool           `json:"ready"`
	RestartCount int            `json:"restartCount"`
	Image        string         `json:"image"`
	ImageID      string         `json:"imageID"`
	ContainerID  string         `json:"containerID"`
	Started      bool           `json:"started"`
}

type podStatus struct {
	Phase             string            `json:"phase"`
	Conditions        []podCondition    `json:"conditions"`
	HostIP            string            `json:"hostIP"`
	HostIPs           []podIP           `json:"hostIPs"`
	PodIP             string            `json:"podIP"`
	PodIPs            []podIP           `json:"podIPs"`
	StartTime         string            `json:"startTime"`
	ContainerStatuses []containerStatus `json:"containerStatuses"`
	QOSClass          string            `json:"qosClass"`
}

// containerID is a deterministic containerd ID for attempt r (restart count) of a container.
func containerID(mix uint64, r int) string {
	v := mix*0x9E3779B97F4A7C15 + uint64(r)*0xBF58476D1CE4E5B9
	return fmt.Sprintf("containerd://%016x%016x%016x%016x", v, v^0xA5A5, v*31, v*131)
}

// restartsAt returns how many restarts of container (j, k) are in effect for sample time T
// and, if any, when the previous attempt had started.
func (x *sampleCtx) restartsAt(j, k int) (n int, prevStart int64) {
	prevStart = x.nd.pods[j].containers[k].start0
	if x.st == nil {
		return 0, prevStart
	}
	cur := prevStart
	for _, r := range x.st.restarts[cref{j, k}] {
		if r.effT <= x.T {
			n++
			if r.at > cur {
				prevStart, cur = cur, r.at
			}
		}
	}
	return n, prevStart
}

// qosClass follows the API server's rule: Guaranteed when every container has limits equal
// to its requests for both CPU and memory, BestEffort when none has any, else Burstable.
func qosClass(p *pod) string {
	for _, c := range p.containers {
		if c.limCPU != c.reqCPU || c.limMem != c.reqMem {
			return "Burstable"
		}
	}
	return "Guaranteed"
}

// podListEntry builds pod j of the node as the kubelet lists it at sample time T.
func (x *sampleCtx) podListEntry(mn *manifestNode, j int) podListEntry {
	p := x.nd.pods[j]
	mp := &mn.Pods[j]
	rs := p.app + "-" + fmt.Sprintf("%x", p.mix%0xfffff)
	created := rfc3339(p.start - 1)
	e := podListEntry{
		Metadata: podMeta{
			Name: p.name, GenerateName: rs + "-", Namespace: p.namespace, UID: x.podUID(j),
			ResourceVersion:   fmt.Sprint(1000 + p.mix),
			CreationTimestamp: created, Labels: mp.Labels,
			OwnerReferences: []ownerRef{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs,
				UID: podUID(x.nd.idx+1<<20, j), Controller: true, BlockOwnerDeletion: true}},
		},
		Spec: podSpec{
			RestartPolicy: "Always", TerminationGracePeriodSeconds: 30, DNSPolicy: "ClusterFirst",
			ServiceAccountName: "default", ServiceAccount: "default", NodeName: x.nd.name,
			SchedulerName: "default-scheduler", EnableServiceLinks: true,
			PreemptionPolicy: "PreemptLowerPriority",
		},
		Status: podStatus{
			Phase: "Running", HostIP: x.nd.ip.String(), HostIPs: []podIP{{x.nd.ip.String()}},
			PodIP:     fmt.Sprintf("10.%d.%d.%d", 64+x.nd.idx>>8&63, x.nd.idx&255, 2+j%250),
			StartTime: rfc3339(p.start), QOSClass: qosClass(p),
		},
	}
	e.Status.PodIPs = []podIP{{e.Status.PodIP}}
	mounts := []volumeMount{{Name: p.apiVolume, ReadOnly: true,
		MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}
	e.Spec.Volumes = append(e.Spec.Volumes, podVolume{Name: p.apiVolume,
		Projected: &projectedSrc{DefaultMode: 420, Sources: []map[string]any{
			{"serviceAccountToken": map[string]any{"expirationSeconds": 3607, "path": "token"}},
			{"configMap": map[string]any{"name": "kube-root-ca.crt",
				"items": []map[string]string{{"key": "ca.crt", "path": "ca.crt"}}}},
		}}})
	if p.hasEmptyDir {
		e.Spec.Volumes = append(e.Spec.Volumes, podVolume{Name: "cache", EmptyDir: &struct{}{}})
		mounts = append(mounts, volumeMount{Name: "cache", MountPath: "/cache"})
	}
	if p.hasPVC {
		e.Spec.Volumes = append(e.Spec.Volumes, podVolume{Name: "data",
			PersistentVolumeClaim: &pvcVolumeSrc{ClaimName: p.pvcName}})
		mounts = append(mounts, volumeMount{Name: "data", MountPath: "/data"})
	}
	latest := p.start
	for k, c := range p.containers {
		e.Spec.Containers = append(e.Spec.Containers, podContainer{
			Name: c.name, Image: c.image, Resources: mp.Containers[k].Resources,
			VolumeMounts: mounts, TerminationMessagePath: "/dev/termination-log",
			TerminationMessagePolicy: "File", ImagePullPolicy: "IfNotPresent",
		})
		n, prev := x.restartsAt(j, k)
		start := x.containerStart(j, k)
		latest = max(latest, start)
		cs := containerStatus{
			Name: c.name, State: containerState{Running: &stateRunning{rfc3339(start)}},
			Ready: true, RestartCount: n, Image: c.image, Started: true,
			ImageID:     fmt.Sprintf("%s@sha256:%064x", c.image, c.mix*0x2545F4914F6CDD1D),
			ContainerID: containerID(c.mix, n),
		}
		if n > 0 {
			cs.LastState.Terminated = &stateTerminated{ExitCode: 137, Reason: "Error",
				StartedAt: rfc3339(prev), FinishedAt: rfc3339(start - 1),
				ContainerID: containerID(c.mix, n-1)}
		}
		e.Status.ContainerStatuses = append(e.Status.ContainerStatuses, cs)
	}
	ready := rfc3339(latest + 1)
	for _, c := range []struct{ t, at string }{{"PodReadyToStartContainers", rfc3339(p.start + 1)},
		{"Initialized", rfc3339(p.start)}, {"Ready", ready}, {"ContainersReady", ready},
		{"PodScheduled", created}} {
		e.Status.Conditions = append(e.Status.Conditions,
			podCondition{Type: c.t, Status: "True", LastTransitionTime: c.at})
	}
	return e
}

// renderPods writes node nd's /pods body at sample time T into b (compact JSON).
func (s *sim) renderPods(b []byte, nd *node, st *nodeState, T int64) ([]byte, error) {
	x := newSampleCtx(&s.cfg, nd, st, T)
	mn := s.manifestNode(nd)
	l := podList{Kind: "PodList", APIVersion: "v1", Items: make([]podListEntry, 0, len(nd.pods))}
	for j, p := range nd.pods {
		if p.registrable {
			l.Items = append(l.Items, x.podListEntry(&mn, j))
		}
	}
	out, err := json.Marshal(&l)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}
