//go:build !linux

package main

import "errors"

var errNoThreadNice = errors.New("per-thread priorities are set on Linux only")

func setThreadNice(int) error { return errNoThreadNice }

func threadNice() (int, error) { return 0, errNoThreadNice }

func setThreadIdle() error { return errNoThreadNice }

func threadPolicy(int) (int, error) { return 0, errNoThreadNice }
