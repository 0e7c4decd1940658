package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"walship/nemesis"
)

// TestCheckChaos runs the nemesis end to end for a few seeds.
func TestCheckChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for _, seed := range []int64{1, 2} {
		var out bytes.Buffer
		err := runCheck(context.Background(), &out, nil, checkOptions{followers: 3, records: 12000, segment: "1MiB", timeout: defaultCheckTimeout, chaos: seed})
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, out.String())
		}
		last := out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:]
		for _, k := range nemesis.Kinds {
			if strings.Contains(last, k+" 0") {
				t.Errorf("seed %d: no %s fault injected: %s", seed, k, last)
			}
		}
	}
}

func TestCheckReferenceOutput(t *testing.T) {
	var out bytes.Buffer
	if err := runCheck(context.Background(), &out, nil, checkOptions{followers: 1, records: 5, segment: "1MiB", timeout: defaultCheckTimeout, chaos: -1}); err != nil {
		t.Fatal(err)
	}
	want := "leader: shipped 5 records to follower-1\n" +
		"follower-1: received 5 records, CRC OK\n" +
		"follower-1: store has 5 keys\n" +
		"leader: follower WAL replay matches — 5/5 keys identical\n"
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
