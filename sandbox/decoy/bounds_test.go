package decoy

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/internal/footprint"
)

// TestFootprint runs one scenario in a subprocess of footprint.Measure.
func TestFootprint(t *testing.T) {
	footprint.Serve(t, map[string]func(testing.TB){"decoys-big-file": decoysInABigFile})
}

func measure(t *testing.T, name string) footprint.Footprint { return footprint.Measure(t, name) }

// slack is what a scenario may cost over an idle test process (KiB).
const slack = 32 << 10

// A staged file as large as a script cares to make it, full of base64 runs
// (the decoy scan decodes those), with a decoy stashed at its very end,
// base64-encoded: the scan finds it without holding the file.
func decoysInABigFile(t testing.TB) {
	d := New()
	dir := t.(*testing.T).TempDir()
	f, err := os.Create(dir + "/big.txt")
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.Repeat([]byte("QUJD"), 16)
	block := bytes.Repeat(append(line, '\n'), (1<<20)/(len(line)+1))
	for i := 0; i < 256; i++ {
		f.Write(block)
	}
	f.WriteString(base64.StdEncoding.EncodeToString([]byte(d.env["GITHUB_TOKEN"])))
	f.Close()
	hits, err := d.ScanTree(dir)
	if err != nil || len(hits["big.txt"]) != 1 {
		t.Errorf("hits %v, %v", hits, err)
	}
}

// The decoy scan of a 256 MiB staged file holds a window of it, not all.
func TestDecoyScanIsBounded(t *testing.T) {
	t.Parallel()
	base := measure(t, "baseline")
	f := measure(t, "decoys-big-file")
	t.Logf("decoys-big-file: peak %d KiB (+%d), allocated %d MiB", f.PeakKiB, f.PeakKiB-base.PeakKiB, f.AllocBytes>>20)
	if f.PeakKiB-base.PeakKiB > slack*footprint.RaceFactor {
		t.Errorf("peak %d KiB over the baseline's %d", f.PeakKiB, base.PeakKiB)
	}
}

// What a window's end cuts is found: a raw value across the first, and a
// double base64 stash across the second, inside a base64 run that began
// further back than scanCarry (it is carried from a 4-aligned offset, so
// it decodes the same).
func TestDecoyScanAcrossWindows(t *testing.T) {
	t.Parallel()
	d := New()
	b64 := base64.StdEncoding
	window := scanWindow + scanCarry // the first read fills the buffer
	first, second := window, 2*window-(d.newScan().longest-1)
	data := bytes.Repeat([]byte{'.'}, second+window)
	copy(data[first-10:], d.env["GITHUB_TOKEN"])
	pad := bytes.Repeat([]byte{'p'}, 3*(scanCarry+12345)/4)
	inner := append(append(append([]byte{}, pad...), b64.EncodeToString([]byte(d.env["NPM_TOKEN"]))...), pad...)
	run := b64.EncodeToString(inner)
	at := second - 4*len(pad)/3 - 30 // the stash's encoding starts 30 bytes before the window's end
	if (second-at-scanCarry)%4 == 0 {
		at-- // so that carrying unaligned would decode garbage
	}
	copy(data[at:], run)
	got, err := d.findIn(bytes.NewReader(data), 100) // larger than it says
	if err != nil || !slices.Equal(got, []string{"GITHUB_TOKEN", "NPM_TOKEN"}) {
		t.Errorf("found %v, %v", got, err)
	}
	got, err = d.findIn(bytes.NewReader(data), uint64(len(data)))
	if err != nil || !slices.Equal(got, []string{"GITHUB_TOKEN", "NPM_TOKEN"}) {
		t.Errorf("found %v, %v", got, err)
	}
}

// zipEntries reads the member count from the end of the archive, zip64's
// included, and finds none in what is no zip.
func TestZipEntries(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 3, 70_000} {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		for i := 0; i < n; i++ {
			w.CreateHeader(&zip.FileHeader{Name: strconv.Itoa(i), Method: zip.Store})
		}
		w.Close()
		got, err := zipEntries(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil || got != uint64(n) {
			t.Errorf("%d members: read %d, %v", n, got, err)
		}
	}
	if got, err := zipEntries(strings.NewReader("no zip at all"), 13); err != nil || got != 0 {
		t.Errorf("no zip: %d, %v", got, err)
	}
}
