// SPDX-License-Identifier: Apache-2.0

package main

import (
	"syscall"
	"unsafe"
)

// clockGettimeMonotonic reads CLOCK_MONOTONIC, the clock kp-elector-example
// prints, so lines of both programs can be ordered on one time line.
func clockGettimeMonotonic(ts *syscall.Timespec) error {
	const clockMonotonic = 1
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic,
		uintptr(unsafe.Pointer(ts)), 0)
	if e != 0 {
		return e
	}
	return nil
}
