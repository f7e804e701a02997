package engine

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"go.uber.org/zap"
)

// pingsLost pings in a row without an answer within keepAliveEvery mean
// the connection is gone: about a minute after the last answer.
const pingsLost = 3

// watch guards a network connection to a remote engine. Such a
// connection can go silent (a network that drops every packet sends no
// FIN and no error), and then a call waits forever: a lost ssh connection
// held the scripts container's wait for as long as the test waited. watch
// pings /_ping every keepAliveEvery; after pingsLost pings in a row had no
// answer, the returned context ends with errLost, and Podman.ctx ends
// every call with it, those in flight, the run's clean-up, and later ones.
// stop ends the watch.
func watch(conn context.Context, log *zap.Logger) (lost context.Context, stop func()) {
	lost, markLost := context.WithCancelCause(context.Background())
	done := make(chan struct{})
	go ping(conn, done, func() {
		log.Warn("the Podman service has not answered for a while: ending the run's calls",
			zap.Duration("for", pingsLost*keepAliveEvery))
		markLost(errLost())
	}, log)
	return lost, func() { close(done) }
}

// ping asks the service for /_ping every keepAliveEvery until done is
// closed. For a private service, each request restarts its idle timer (a
// killed client stops pinging). lost, when not nil, is called once
// pingsLost pings in a row have had no answer.
func ping(conn context.Context, done <-chan struct{}, lost func(), log *zap.Logger) {
	client, err := bindings.GetClient(conn)
	if err != nil {
		return
	}
	tick := time.NewTicker(keepAliveEvery)
	defer tick.Stop()
	failed := 0
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(conn, keepAliveEvery)
			resp, err := client.DoRequest(ctx, nil, http.MethodGet, "/_ping", nil, nil)
			if err == nil {
				resp.Body.Close()
				failed = 0
			} else {
				failed++
				log.Debug("ping of the Podman service", zap.Int("failed", failed), zap.Error(err))
			}
			cancel()
			if lost != nil && failed >= pingsLost {
				lost()
				return
			}
		}
	}
}

// errLost is what every call gets once the watch gave the connection up.
func errLost() error {
	return fmt.Errorf("%w: the connection to the Podman service was lost: no answer to %d pings in %s",
		ErrUnavailable, pingsLost, pingsLost*keepAliveEvery)
}
