package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// watchHUPWithoutReload keeps SIGHUP from killing a service that has
// nothing to reload (no token file, no certificate): the default action of
// SIGHUP ends the process without its final snapshot. It logs each one.
func (m *Main) watchHUPWithoutReload() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ch:
				m.log.Info("SIGHUP: no token file or certificate to reload; still serving")
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(quit)
			<-done
		})
	}
}
