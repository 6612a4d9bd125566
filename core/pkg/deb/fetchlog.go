package deb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kitbuild/kit/core/graph"
)

// FetchRecord says which blob a URL served and when.
type FetchRecord struct {
	URL     string       `json:"url"`
	Digest  graph.Digest `json:"digest"`
	Size    int64        `json:"size"`
	Fetched time.Time    `json:"fetched"`
}

// FetchLog is the small JSON index of fetched repository files kept next
// to the cache (see WithFetchLog), sorted by URL.
type FetchLog struct {
	Records []FetchRecord `json:"records"`
}

// ReadFetchLog reads the fetch log at path; a missing file is an empty log.
func ReadFetchLog(path string) (FetchLog, error) {
	var l FetchLog
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("fetch log: %w", err)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("fetch log %s: %w", path, err)
	}
	return l, nil
}

// Lookup returns the record of url.
func (l FetchLog) Lookup(url string) (FetchRecord, bool) {
	i := sort.Search(len(l.Records), func(i int) bool { return l.Records[i].URL >= url })
	if i < len(l.Records) && l.Records[i].URL == url {
		return l.Records[i], true
	}
	return FetchRecord{}, false
}

// record notes that url served out, best effort: the log only speeds up
// and explains, so failing to write it is logged, not returned.
func (c *Client) record(url string, out graph.Output) {
	if c.fetchLog == "" {
		return
	}
	if err := c.writeRecord(FetchRecord{URL: url, Digest: out.Digest, Size: out.Size, Fetched: c.now().UTC()}); err != nil {
		c.logf("deb: %v", err)
	}
}

func (c *Client) writeRecord(rec FetchRecord) error {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	l, err := ReadFetchLog(c.fetchLog)
	if err != nil {
		l = FetchLog{} // a corrupt log is rebuilt
	}
	i := sort.Search(len(l.Records), func(i int) bool { return l.Records[i].URL >= rec.URL })
	if i < len(l.Records) && l.Records[i].URL == rec.URL {
		l.Records[i] = rec
	} else {
		l.Records = append(l.Records, FetchRecord{})
		copy(l.Records[i+1:], l.Records[i:])
		l.Records[i] = rec
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("fetch log: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.fetchLog), 0o755); err != nil {
		return fmt.Errorf("fetch log: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.fetchLog), ".fetchlog-*")
	if err != nil {
		return fmt.Errorf("fetch log: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("fetch log: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fetch log: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.fetchLog); err != nil {
		return fmt.Errorf("fetch log: %w", err)
	}
	return nil
}

type fetchedCopy struct {
	FetchRecord
	data []byte
}

// lastFetched returns the stored copy of url from the fetch log.
func (c *Client) lastFetched(ctx context.Context, url string) (fetchedCopy, bool) {
	if c.fetchLog == "" {
		return fetchedCopy{}, false
	}
	l, err := ReadFetchLog(c.fetchLog)
	if err != nil {
		return fetchedCopy{}, false
	}
	rec, ok := l.Lookup(url)
	if !ok || !c.store.Has(rec.Digest) {
		return fetchedCopy{}, false
	}
	rc, err := c.store.Open(ctx, rec.Digest)
	if err != nil {
		return fetchedCopy{}, false
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxInRelease))
	if err != nil {
		return fetchedCopy{}, false
	}
	return fetchedCopy{FetchRecord: rec, data: b}, true
}
