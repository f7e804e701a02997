package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/safe-install/safe-install/images"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
)

// DefaultImage is the reference of the sandbox image that matches this host
// (its node, npm and CA bundle).
func DefaultImage(ctx context.Context) (string, images.Spec, error) {
	spec, err := images.Detect(ctx)
	if err != nil {
		return "", spec, err
	}
	ref, err := spec.Ref()
	return ref, spec, err
}

// EnsureImage returns ref when the engine has it. With ref empty it uses
// the default image, or for python (major.minor, pip) one whose python3 is
// that version, building and importing it first when it is missing.
func EnsureImage(ctx context.Context, eng engine.Images, ref, python string, progress io.Writer) (string, error) {
	return EnsureImageOf(ctx, eng, ref, func() (images.Spec, error) { return images.Detect(ctx) }, python, progress, nil)
}

// EnsureImageOf is EnsureImage with the host's spec from host (a run
// detects it while it connects to the engine: node --version is a
// process of its own). ready, when given, is asked before a build: the
// plan, made meanwhile, whose error must come before minutes of building
// for a run that will not happen.
func EnsureImageOf(ctx context.Context, eng engine.Images, ref string, host func() (images.Spec, error), python string, progress io.Writer, ready func() error) (string, error) {
	if ref != "" {
		ok, err := eng.ImageExists(ctx, ref)
		if err != nil {
			return "", fmt.Errorf("%w: looking for image %s: %w", ErrEngine, ref, err)
		}
		if !ok {
			return "", fmt.Errorf("%w: image %s does not exist; leave --image out to build the default one, or run `safe-install image build`", ErrEngine, ref)
		}
		return ref, nil
	}
	spec, err := host()
	if err != nil {
		return "", err
	}
	if spec, err = spec.ForPython(python); err != nil {
		return "", fmt.Errorf("%w: %w", install.ErrPolicy, err)
	}
	if ref, err = spec.Ref(); err != nil {
		return "", err
	}
	ok, err := eng.ImageExists(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("%w: looking for image %s: %w", ErrEngine, ref, err)
	}
	if ok {
		return ref, nil
	}
	if ready != nil {
		if err := ready(); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(progress, "safe-install: the sandbox image %s is missing; building it\n", ref)
	return ref, BuildImage(ctx, eng, ref, spec, progress)
}

// BuildImage builds the root filesystem on this machine and imports it
// through the engine's API, so a remote engine gets it the same way.
func BuildImage(ctx context.Context, eng engine.Images, ref string, spec images.Spec, progress io.Writer) error {
	dir, err := os.MkdirTemp("", "safe-install-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rootfs, err := images.Build(ctx, spec, dir, progress)
	if err != nil {
		return err
	}
	f, err := os.Open(rootfs)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(progress, "image: importing %s\n", ref)
	if _, err := eng.ImportImage(ctx, ref, f, images.Changes()); err != nil {
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	return nil
}
