package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/engine/kv"
)

// restartConfig is a cluster whose retention removes WAL (so the leader's
// store lives in its checkpoint) on a kept data directory.
func restartConfig(dir string, followers int) cluster.Config {
	return cluster.Config{
		Dir: dir, Followers: followers, NoFsync: true,
		SegmentSize: 16 << 10, WALKeep: 32 << 10, CheckpointInterval: time.Millisecond,
		Slots:          true, // followers the writer outruns keep their WAL
		StatusInterval: 20 * time.Millisecond,
	}
}

// storeMap copies a store's contents.
func storeMap(s *kv.Store) map[string]string {
	m := map[string]string{}
	for _, k := range s.Keys() {
		v, _ := s.Get(k)
		m[k] = string(v)
	}
	return m
}

// waitStreaming waits until every follower streams.
func waitStreaming(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, f := range c.Snapshot(^uint64(0)).Followers {
			all = all && f.State == cluster.StateStreaming
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("followers not streaming: %+v", c.Snapshot(^uint64(0)).Followers)
		}
		time.Sleep(time.Millisecond)
	}
}

func converge(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

// putRange writes keys from..to-1, each once, then churns a few keys so
// that retention removes the WAL that wrote them.
func putRange(t *testing.T, c *cluster.Cluster, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := c.Put(fmt.Appendf(nil, "key-%06d", i), fmt.Appendf(nil, "value-%06d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3000 {
		if _, err := c.Put(fmt.Appendf(nil, "churn-%02d", i%40), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// waitRetention waits until retention has removed WAL (it runs every
// CheckpointInterval, so not always before converge returns): without
// that, a test of what the store checkpoint brings back proves nothing.
func waitRetention(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // only against a hang
	for c.Leader().Log().Start() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("retention removed no WAL: the test would prove nothing")
		}
		time.Sleep(time.Millisecond)
	}
}

// A kept data directory restarts the whole cluster: the leader keeps every
// key (from its checkpoint and WAL), each follower recovers from its own
// files and streams from where its WAL ends (no base backup, no clearing),
// and every node's recovery is an event.
func TestWholeClusterRestartsFromItsDirectory(t *testing.T) {
	dir := t.TempDir()
	c, err := cluster.New(restartConfig(dir, 2))
	if err != nil {
		t.Fatal(err)
	}
	waitStreaming(t, c) // so their slots exist before retention runs
	putRange(t, c, 0, 2000)
	converge(t, c)
	waitRetention(t, c)
	want := storeMap(c.Leader().Store())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Zero segment size and followers: the directory's own, and all of them.
	cfg := restartConfig(dir, 0)
	cfg.SegmentSize = 0
	c, err = cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log := collectEvents(c)
	defer log.close()
	if got := storeMap(c.Leader().Store()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restarted leader has %d keys, had %d", len(got), len(want))
	}
	if names := c.Names(); fmt.Sprint(names) != "[follower-1 follower-2]" {
		t.Fatalf("followers after restart: %v", names)
	}
	waitStreaming(t, c)
	putRange(t, c, 2000, 2500)
	converge(t, c)
	recovered := map[string]string{}
	for _, e := range log.list() {
		switch e.Kind {
		case cluster.EvRecovery:
			recovered[e.Follower] = e.Text
		case cluster.EvBackup, cluster.EvWALRemoved:
			t.Fatalf("%s: %s %s", e.Follower, e.Kind, e.Text)
		}
	}
	for _, who := range []string{"", "follower-1", "follower-2"} {
		if !strings.Contains(recovered[who], "recovered WAL") || strings.Contains(recovered[who], ": 0 records in") {
			t.Fatalf("recovery of %q: %q", who, recovered[who])
		}
	}
	if !strings.Contains(recovered[""], "checkpoint at") {
		t.Fatalf("leader recovery: %q", recovered[""])
	}
	log.close()
	verifyMatch(t, c, " after the restart")
}

// A kept directory's segment size cannot change: another is refused with
// both sizes named, unless the size asked for is only a default.
func TestKeptDirectoryKeepsItsSegmentSize(t *testing.T) {
	dir := t.TempDir()
	c, err := cluster.New(restartConfig(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	c.Put([]byte("k"), []byte("v"))
	converge(t, c)
	c.Close()

	cfg := restartConfig(dir, 1)
	cfg.SegmentSize = 1 << 20
	if c, err := cluster.New(cfg); err == nil {
		c.Close()
		t.Fatal("a different segment size was accepted")
	} else if !strings.Contains(err.Error(), "16KiB") || !strings.Contains(err.Error(), "1MiB") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error does not name the directory and both sizes: %v", err)
	}
	cfg.AdoptSegmentSize = true
	c, err = cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Snapshot(0).Leader.SegmentSize; got != 16<<10 {
		t.Fatalf("segment size %d after adopting the directory's", got)
	}
	if v, ok := c.Leader().Store().Get("k"); !ok || string(v) != "v" {
		t.Fatalf("key lost: %q %v", v, ok)
	}
}

// A follower added to a kept cluster is a new standby: it starts from a
// base backup, as one made with pg_basebackup, rather than replaying the
// cluster's whole history; the kept follower streams on from its WAL.
func TestNewFollowerOfAKeptClusterStartsFromABackup(t *testing.T) {
	dir := t.TempDir()
	c, err := cluster.New(restartConfig(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	waitStreaming(t, c)
	putRange(t, c, 0, 500)
	converge(t, c)
	c.Close()

	c, err = cluster.New(restartConfig(dir, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log := collectEvents(c)
	defer log.close()
	log.wait(t, cluster.EvBackup, "follower-2", "base backup installed")
	putRange(t, c, 500, 600)
	converge(t, c)
	for _, e := range log.list() {
		if e.Follower == "follower-1" && (e.Kind == cluster.EvBackup || e.Kind == cluster.EvWALRemoved) {
			t.Fatalf("the kept follower: %s %s", e.Kind, e.Text)
		}
	}
	log.close()
	verifyMatch(t, c, "")
}
