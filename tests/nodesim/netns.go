package main

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// listenInNetns opens TCP listeners inside the network namespace at nsPath while the rest of the
// process (its apiserver client above all) stays in the root namespace. A socket belongs to the
// namespace of the thread that created it, so the thread is switched, used, and switched back.
func listenInNetns(nsPath string, addrs []string) ([]net.Listener, error) {
	runtime.LockOSThread()
	restored := false
	defer func() {
		// A thread left in the wrong namespace must never run other goroutines: when restoring
		// failed the goroutine exits still locked, and Go terminates that thread.
		if restored {
			runtime.UnlockOSThread()
		}
	}()

	original, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open own network namespace: %w", err)
	}
	defer original.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer target.Close()

	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter network namespace %s: %w", nsPath, err)
	}
	var listeners []net.Listener
	var listenErr error
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			listenErr = fmt.Errorf("listen on %s in %s: %w", addr, nsPath, err)
			break
		}
		listeners = append(listeners, l)
	}
	if err := unix.Setns(int(original.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("return to the original network namespace: %w", err)
	}
	restored = true
	if listenErr != nil {
		for _, l := range listeners {
			l.Close()
		}
		return nil, listenErr
	}
	return listeners, nil
}
