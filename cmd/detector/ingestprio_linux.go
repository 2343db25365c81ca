package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
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

// schedIdle is Linux's SCHED_IDLE policy (sched(7)).
const schedIdle = 5

// setThreadIdle moves the calling thread to the SCHED_IDLE policy: it runs
// only when no thread of a normal policy wants its core, and one that
// wakes preempts it at once.
func setThreadIdle() error {
	var param struct{ priority int32 } // sched_param; 0 for SCHED_IDLE
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(syscall.Gettid()), schedIdle, uintptr(unsafe.Pointer(&param))); e != 0 {
		return fmt.Errorf("sched_setscheduler SCHED_IDLE: %w", e)
	}
	return nil
}

// threadPolicy returns the scheduling policy of thread tid of this
// process (field 41 of its stat file).
func threadPolicy(tid int) (int, error) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command (field 2) is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 39 {
		return 0, fmt.Errorf("thread %d: short stat", tid)
	}
	return strconv.Atoi(f[38])
}
