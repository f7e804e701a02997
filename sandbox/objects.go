package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/faultpoint"
	"github.com/safe-install/safe-install/sandbox/internal/spread"
)

// create makes one of the run's containers, with the run's labels, and
// remembers it for clean-up.
func (r *runner) create(ctx context.Context, spec engine.ContainerSpec) (string, error) {
	spec.Labels = r.labels
	id, err := r.eng.Create(ctx, spec)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrEngine, err)
	}
	r.objects.Lock()
	r.containers = append(r.containers, id)
	r.objects.Unlock()
	r.log.Debug("container created", zap.String("name", spec.Name), zap.String("id", id), zap.String("network", spec.Network),
		zap.Int64("memory_bytes", spec.MemoryBytes), zap.Int64("pids", spec.PidsLimit),
		zap.String("bounded_by", "rlimits nproc/data/fsize/nofile always; cgroup memory/pids where the engine enforces them (cgroup v2)"))
	return id, nil
}

// createVolume creates one of the run's volumes.
func (r *runner) createVolume(ctx context.Context, name string) error {
	return r.createVolumeSpec(ctx, engine.VolumeSpec{Name: name})
}

// createVolumeSpec creates one of the run's volumes, with its labels
// (reap.go), and removes it at the end.
func (r *runner) createVolumeSpec(ctx context.Context, v engine.VolumeSpec) error {
	v.Labels = r.labels
	if err := r.eng.CreateVolume(ctx, v); err != nil {
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	r.objects.Lock()
	r.volumes = append(r.volumes, v.Name)
	r.objects.Unlock()
	return nil
}

func (r *runner) copyIn(ctx context.Context, id, dir string, inputs []install.Input) error {
	return r.copyInAt(ctx, id, dir, inputs, "")
}

// copyInAt is copyIn, with the test hook at step once the inputs are
// written and the engine still waits for the stream's end.
func (r *runner) copyInAt(ctx context.Context, id, dir string, inputs []install.Input, step string) error {
	return r.putInputs(ctx, inputs, step, func(ctx context.Context, tar io.Reader) error {
		return r.eng.CopyIn(ctx, id, dir, tar)
	})
}

// putInputs streams the inputs as tar to put, within the phase time limit:
// an engine that stops answering mid-copy (seen with Podman 4.3.1) would
// otherwise hold the run for good.
func (r *runner) putInputs(ctx context.Context, inputs []install.Input, step string, put func(context.Context, io.Reader) error) error {
	tctx, cancel := context.WithTimeout(ctx, r.opts.Limits.Timeout)
	defer cancel()
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		err := writeInputs(pw, r.plan.Project, inputs)
		faultpoint.At(step)
		pw.CloseWithError(err)
		wrote <- err
	}()
	err := put(tctx, pr)
	pr.CloseWithError(err)
	// The stream's refusal says more than what the engine made of it.
	if werr := <-wrote; err != nil && errors.Is(werr, install.ErrPolicy) {
		return werr
	}
	switch {
	case err != nil && ctx.Err() == nil && tctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("%w: copying inputs into the sandbox took longer than the %s time limit: the engine does not answer", ErrEngine, r.opts.Limits.Timeout)
	case err != nil:
		return fmt.Errorf("copying inputs into the sandbox: %w", err)
	}
	return nil
}

// releaseEngine starts removing the run's containers and volumes once
// nothing more is read from them (after the copy-back and the decoy
// audit), while the host's side goes on: the checks, the manager's
// delivery (npm's fill by hard links) and the swap need no engine. Not
// before a host install (Plan.HostInstall).
// cleanup waits for it, so nothing outlives the run; a run killed
// meanwhile leaves labelled objects the next run reaps, as before.
func (r *runner) releaseEngine() {
	if r.opts.Keep || r.plan.HostInstall || r.engineReleased != nil {
		return
	}
	if r.releaseWork != nil {
		r.releaseWork()
		r.releaseWork = nil
	}
	done := make(chan struct{})
	r.engineReleased = done
	go func() {
		defer close(done)
		r.removeObjects()
	}()
}

func (r *runner) cleanup() {
	if r.releaseWork != nil {
		r.releaseWork()
	}
	start := time.Now()
	defer func() { r.log.Debug("cleaned up", zap.Duration("took", time.Since(start))) }()
	// The staging directory holds the old tree after a swap: its removal
	// waits on the disk, the engine's on the engine, side by side.
	var wg sync.WaitGroup
	if r.stagingRoot != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.stopPrefill != nil {
				r.stopPrefill()
			}
			if err := spread.Remove(r.stagingRoot); err != nil {
				r.log.Warn("removing the staging directory", zap.String("name", r.stagingRoot), zap.Error(err))
			}
		}()
	}
	if r.engineReleased == nil {
		r.removeObjects()
	} else {
		<-r.engineReleased
	}
	wg.Wait()
}

// artifactsFrom is where the artifacts come from when no scripts
// container follows the fetch: the fetch container, or, when the work
// volume is read through the holder (a local engine) and so nothing more
// is read from the fetch container, the holder, whose archive endpoint is
// then the fallback's (it mounts the work volume where the fetch did),
// while the fetch container goes at once. (Both removed at the end, their
// removals took Podman 190-290 ms after the swap, one after the other,
// and the old tree's removal beside them 110-150 ms: measured.)
func (r *runner) artifactsFrom(fetchID string) string {
	if r.localWork == "" || r.holderID == "" || r.opts.Keep || r.plan.HostInstall {
		return fetchID
	}
	r.objects.Lock()
	r.containers = slices.DeleteFunc(r.containers, func(id string) bool { return id == fetchID })
	r.objects.Unlock()
	r.early.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := r.eng.Remove(ctx, fetchID); err != nil {
			r.log.Debug("removing the fetch container early; again at the end", zap.Error(err))
			r.objects.Lock()
			r.earlyLeft = append(r.earlyLeft, fetchID)
			r.objects.Unlock()
		}
	})
	return r.holderID
}

// removeObjects removes the run's containers, then its volumes (a volume
// in use cannot go), or with --keep lists them as kept.
func (r *runner) removeObjects() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Each removal waits on the engine, not on the others: run them side
	// by side. Volumes go once the containers that use them are gone.
	var wg sync.WaitGroup
	each := func(items []string, remove func(string) error, what string) {
		for _, it := range items {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := remove(it); err != nil {
					r.log.Warn("removing "+what, zap.String("name", it), zap.Error(err))
				}
			}()
		}
	}
	if r.auditFinished != nil {
		select {
		case <-r.auditFinished:
		case <-ctx.Done():
		}
	}
	// A plan that failed made no run to inspect: what was made while it
	// was made (RunPlanned: the holder, the volumes) goes, as when a
	// failed plan never reached the engine.
	if r.opts.Keep && r.plan != nil {
		r.res.Kept = append(append([]string{}, r.containers...), r.volumes...)
		return
	}
	remove := func(id string) error { return r.eng.Remove(ctx, id) }
	r.objects.Lock()
	each(slices.Clone(r.containers), remove, "a container")
	r.objects.Unlock()
	wg.Wait()
	r.early.Wait() // the fetch container's early removal, and what it left
	each(r.earlyLeft, remove, "a container")
	wg.Wait()
	each(r.volumes, func(v string) error { return r.eng.RemoveVolume(ctx, v) }, "a volume")
	wg.Wait()
}
