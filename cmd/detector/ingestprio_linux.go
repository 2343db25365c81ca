package main

import (
	"fmt"
	"syscall"
)

// setThreadNice sets the nice value of the calling thread (Linux applies
// PRIO_PROCESS with a thread id to that thread alone).
func setThreadNice(nice int) error {
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice); err != nil {
		return fmt.Errorf("setpriority: %w", err)
	}
	return nil
}

// threadNice returns the nice value of the calling thread.
func threadNice() (int, error) {
	// The system call returns 20 - nice (glibc's getpriority converts).
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return 0, fmt.Errorf("getpriority: %w", err)
	}
	return 20 - p, nil
}
