// SPDX-License-Identifier: Apache-2.0

// goelector is the interop partner of kp-elector-example: client-go's own
// leader election (leaderelection.RunOrDie over resourcelock.LeaseLock with
// ReleaseOnCancel) with the same flags and the same transition lines, so the
// integration tests can run C and Go replicas against one Lease.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

var out sync.Mutex

// emit prints one machine-readable line: the same keys as kp-elector-example.
func emit(event, id, extra string) {
	var ts syscall.Timespec
	_ = clockGettimeMonotonic(&ts)
	mono := float64(ts.Sec) + float64(ts.Nsec)/1e9
	wall := float64(time.Now().UnixNano()) / 1e9
	out.Lock()
	defer out.Unlock()
	fmt.Printf("ELECTOR event=%s id=%s mono=%.6f wall=%.6f%s\n", event, id, mono, wall, extra)
}

func main() {
	klog.InitFlags(nil)
	id := flag.String("id", "", "the holder identity of this replica")
	name := flag.String("lease-lock-name", "", "the Lease name")
	ns := flag.String("lease-lock-namespace", "", "the Lease namespace")
	kubeconfig := flag.String("kubeconfig", "", "path to a kubeconfig")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "lease duration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "renew deadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "retry period")
	flag.Parse()
	if *id == "" || *name == "" || *ns == "" {
		fmt.Fprintln(os.Stderr, "goelector: -id, -lease-lock-name and -lease-lock-namespace are required")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "goelector: %v\n", err)
		os.Exit(1)
	}
	client := clientset.NewForConfigOrDie(cfg)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: *name, Namespace: *ns},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: *id},
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		emit("signal", *id, "")
		cancel()
	}()

	var leadingMu sync.Mutex
	leading := false
	// The end of leadership, printed once: when the leader's context ends (the program
	// stops acting for the leader there; with ReleaseOnCancel client-go releases the Lease
	// only after that, and calls OnStoppedLeading after the release), or in
	// OnStoppedLeading if that comes first.
	stopLeading := func() {
		leadingMu.Lock()
		was := leading
		leading = false
		leadingMu.Unlock()
		if was {
			emit("stopped_leading", *id, "")
		}
	}
	emit("start", *id, "")
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		ReleaseOnCancel: true,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				leadingMu.Lock()
				leading = true
				leadingMu.Unlock()
				emit("started_leading", *id, "")
				t := time.NewTicker(5 * time.Second)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						stopLeading()
						return
					case <-t.C:
						emit("leading", *id, "")
					}
				}
			},
			OnStoppedLeading: stopLeading,
			OnNewLeader: func(identity string) {
				emit("new_leader", *id, " leader="+identity)
			},
		},
	})
	emit("exit", *id, "")
}
