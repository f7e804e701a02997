//go:build e2e

package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// corpusCase ties an end-to-end test to the red-team corpus of
// testdata/corpus/README.md: the cases it plays, their class, and the layer
// of safe-install that must stop them ("benign" cases must just work).
type corpusCase struct {
	ID, Class, Layer string
}

type corpusRow struct {
	corpusCase
	test    string
	result  string
	seconds float64
}

var corpusTable struct {
	sync.Mutex
	rows []corpusRow
}

// corpus registers the running test as a corpus case; its row is filled in
// when the test ends.
func corpus(t *testing.T, c corpusCase) {
	t.Helper()
	start := time.Now()
	t.Cleanup(func() {
		result := "pass"
		switch {
		case t.Skipped():
			result = "SKIP"
		case t.Failed():
			result = "FAIL"
		}
		corpusTable.Lock()
		defer corpusTable.Unlock()
		corpusTable.rows = append(corpusTable.rows, corpusRow{c, t.Name(), result, time.Since(start).Seconds()})
	})
}

// printCorpusTable prints the results table (make test and make redteam
// show it; CI prints it).
func printCorpusTable(w io.Writer) {
	corpusTable.Lock()
	defer corpusTable.Unlock()
	if len(corpusTable.rows) == 0 {
		return
	}
	rows := append([]corpusRow(nil), corpusTable.rows...)
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	fmt.Fprintln(w, "\nred-team corpus results (cases from testdata/corpus/README.md):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tclass\tstopped by\tresult\tseconds\ttest")
	failed := 0
	for _, r := range rows {
		if r.result != "pass" {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\n", r.ID, r.Class, r.Layer, r.result, r.seconds, strings.TrimPrefix(r.test, "TestE2E"))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d cases, %d not passing\n", len(rows), failed)
	if len(knownFailures) == 0 {
		fmt.Fprintln(w, "known failures: none listed")
	}
	for _, id := range slices.Sorted(maps.Keys(knownFailures)) {
		fmt.Fprintf(w, "known failure %s: %s\n", id, knownFailures[id])
	}
	fmt.Fprintln(w)
}

// knownFailures are cases that cannot pass with the current design, each
// with the reason. Their tests still run and fail; the list must shrink,
// never grow silently (issue 5). RT-52 left it when the disk guard came.
var knownFailures = map[string]string{}

func init() { afterTests = append(afterTests, func() { printCorpusTable(os.Stderr) }) }
