package wheel

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

type recordError struct{ member, reason string }

// checkRecord requires RECORD to list every member exactly, with a sha256
// and size that match: a RECORD that does not agree with the archive means
// the wheel was altered after it was built, or built to mislead. It
// returns each member's digest as RECORD gives it (sha256=...).
func checkRecord(record *zip.File, members map[string]*zip.File, distInfo string) (map[string]string, *recordError) {
	body, err := readAll(record, 64<<20)
	if err != nil {
		return nil, &recordError{record.Name, err.Error()}
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		return nil, &recordError{record.Name, "unreadable: " + err.Error()}
	}
	digests := map[string]string{}
	listed := map[string]bool{}
	for _, row := range rows {
		if len(row) != 3 {
			return nil, &recordError{record.Name, fmt.Sprintf("a row with %d fields, want 3", len(row))}
		}
		name, digest, size := row[0], row[1], row[2]
		if listed[name] {
			return nil, &recordError{name, "listed twice in RECORD"}
		}
		listed[name] = true
		f, ok := members[name]
		if !ok {
			return nil, &recordError{name, "listed in RECORD but not in the archive"}
		}
		if name == distInfo+"RECORD" || name == distInfo+"RECORD.jws" || name == distInfo+"RECORD.p7s" {
			continue
		}
		if !strings.HasPrefix(digest, "sha256=") {
			return nil, &recordError{name, "RECORD gives no sha256 for it"}
		}
		n, err := strconv.ParseUint(size, 10, 64)
		if err != nil || n != f.UncompressedSize64 {
			return nil, &recordError{name, "its size differs from RECORD"}
		}
		sum, err := hashReader(f.Open)
		if err != nil {
			return nil, &recordError{name, err.Error()}
		}
		if sum != digest {
			return nil, &recordError{name, "its sha256 differs from RECORD"}
		}
		digests[name] = digest
	}
	for name, f := range members {
		if !listed[name] && !f.Mode().IsDir() && !strings.HasSuffix(name, "/") &&
			name != distInfo+"RECORD.jws" && name != distInfo+"RECORD.p7s" {
			return nil, &recordError{name, "in the archive but not listed in RECORD"}
		}
	}
	return digests, nil
}

// hashReader is RECORD's form of the sha256 of what open gives:
// sha256= and the unpadded URL-safe base64 of the sum.
func hashReader[R io.ReadCloser](open func() (R, error)) (string, error) {
	rc, err := open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	// A zip member's reader checks the CRC and the declared size at EOF.
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("unreadable: %w", err)
	}
	return "sha256=" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)), nil
}

func readAll(f *zip.File, max int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("unreadable: %w", err)
	}
	return b, nil
}
