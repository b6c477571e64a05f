// SPDX-License-Identifier: Apache-2.0

// types.go — Go structs with the field names, nesting and optionality of the kubelet
// Summary API (k8s.io/kubelet/pkg/apis/stats/v1alpha1), written for this simulator so it
// needs no Kubernetes modules. /expected encodes a sample through them with encoding/json;
// the tests decode the fast renderer's output into them and compare.
//
// Times are kept as the RFC3339 strings the API carries.
package main

type Summary struct {
	Node NodeStats  `json:"node"`
	Pods []PodStats `json:"pods"`
}

type NodeStats struct {
	NodeName         string           `json:"nodeName"`
	SystemContainers []ContainerStats `json:"systemContainers,omitempty"`
	StartTime        string           `json:"startTime"`
	CPU              *CPUStats        `json:"cpu,omitempty"`
	Memory           *MemoryStats     `json:"memory,omitempty"`
	IO               *IOStats         `json:"io,omitempty"`
	Network          *NetworkStats    `json:"network,omitempty"`
	Fs               *FsStats         `json:"fs,omitempty"`
	Runtime          *RuntimeStats    `json:"runtime,omitempty"`
	Rlimit           *RlimitStats     `json:"rlimit,omitempty"`
	Swap             *SwapStats       `json:"swap,omitempty"`
}

type RlimitStats struct {
	Time                  string `json:"time"`
	MaxPID                *int64 `json:"maxpid,omitempty"`
	NumOfRunningProcesses *int64 `json:"curproc,omitempty"`
}

type RuntimeStats struct {
	ImageFs     *FsStats `json:"imageFs,omitempty"`
	ContainerFs *FsStats `json:"containerFs,omitempty"`
}

type ProcessStats struct {
	ProcessCount *uint64 `json:"process_count,omitempty"`
}

type PodStats struct {
	PodRef           PodReference     `json:"podRef"`
	StartTime        string           `json:"startTime"`
	Containers       []ContainerStats `json:"containers"`
	CPU              *CPUStats        `json:"cpu,omitempty"`
	Memory           *MemoryStats     `json:"memory,omitempty"`
	IO               *IOStats         `json:"io,omitempty"`
	Network          *NetworkStats    `json:"network,omitempty"`
	VolumeStats      []VolumeStats    `json:"volume,omitempty"`
	EphemeralStorage *FsStats         `json:"ephemeral-storage,omitempty"`
	ProcessStats     *ProcessStats    `json:"process_stats,omitempty"`
	Swap             *SwapStats       `json:"swap,omitempty"`
}

type ContainerStats struct {
	Name      string       `json:"name"`
	StartTime string       `json:"startTime"`
	CPU       *CPUStats    `json:"cpu,omitempty"`
	Memory    *MemoryStats `json:"memory,omitempty"`
	IO        *IOStats     `json:"io,omitempty"`
	Rootfs    *FsStats     `json:"rootfs,omitempty"`
	Logs      *FsStats     `json:"logs,omitempty"`
	Swap      *SwapStats   `json:"swap,omitempty"`
}

type PodReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

type InterfaceStats struct {
	Name     string  `json:"name"`
	RxBytes  *uint64 `json:"rxBytes,omitempty"`
	RxErrors *uint64 `json:"rxErrors,omitempty"`
	TxBytes  *uint64 `json:"txBytes,omitempty"`
	TxErrors *uint64 `json:"txErrors,omitempty"`
}

type NetworkStats struct {
	Time           string `json:"time"`
	InterfaceStats `json:",inline"`
	Interfaces     []InterfaceStats `json:"interfaces,omitempty"`
}

type CPUStats struct {
	Time                 string    `json:"time"`
	UsageNanoCores       *uint64   `json:"usageNanoCores,omitempty"`
	UsageCoreNanoSeconds *uint64   `json:"usageCoreNanoSeconds,omitempty"`
	PSI                  *PSIStats `json:"psi,omitempty"`
}

type MemoryStats struct {
	Time            string    `json:"time"`
	AvailableBytes  *uint64   `json:"availableBytes,omitempty"`
	UsageBytes      *uint64   `json:"usageBytes,omitempty"`
	WorkingSetBytes *uint64   `json:"workingSetBytes,omitempty"`
	RSSBytes        *uint64   `json:"rssBytes,omitempty"`
	PageFaults      *uint64   `json:"pageFaults,omitempty"`
	MajorPageFaults *uint64   `json:"majorPageFaults,omitempty"`
	PSI             *PSIStats `json:"psi,omitempty"`
}

type IOStats struct {
	Time string    `json:"time"`
	PSI  *PSIStats `json:"psi,omitempty"`
}

type PSIStats struct {
	Full PSIData `json:"full"`
	Some PSIData `json:"some"`
}

type PSIData struct {
	Total  uint64  `json:"total"`
	Avg10  float64 `json:"avg10"`
	Avg60  float64 `json:"avg60"`
	Avg300 float64 `json:"avg300"`
}

type SwapStats struct {
	Time               string  `json:"time"`
	SwapAvailableBytes *uint64 `json:"swapAvailableBytes,omitempty"`
	SwapUsageBytes     *uint64 `json:"swapUsageBytes,omitempty"`
}

type VolumeStats struct {
	FsStats `json:",inline"`
	Name    string        `json:"name,omitempty"`
	PVCRef  *PVCReference `json:"pvcRef,omitempty"`
}

type PVCReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type FsStats struct {
	Time           string  `json:"time"`
	AvailableBytes *uint64 `json:"availableBytes,omitempty"`
	CapacityBytes  *uint64 `json:"capacityBytes,omitempty"`
	UsedBytes      *uint64 `json:"usedBytes,omitempty"`
	InodesFree     *uint64 `json:"inodesFree,omitempty"`
	Inodes         *uint64 `json:"inodes,omitempty"`
	InodesUsed     *uint64 `json:"inodesUsed,omitempty"`
}
