package tui

import "testing"

func TestSentence(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"waiting for welcome: read tcp 127.0.0.1:37206->127.0.0.1:41533: read: connection reset by peer",
			"the other end dropped the connection (connection reset by peer) while it waited for the leader's welcome"},
		{"waiting for welcome: EOF", "the other end closed the connection (EOF) while it waited for the leader's welcome"},
		{"connect: dial tcp 127.0.0.1:4000: connect: connection refused",
			"nothing answered (connection refused) while it connected to the leader"},
		{"disconnected: read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection",
			"disconnected: the connection was closed (use of closed network connection)"},
		{"disconnected: welcome: write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe",
			"disconnected: the other end had already closed the connection (broken pipe) while the leader welcomed it"},
		{"hello: write tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout", "no answer came in time (i/o timeout) while it said hello to the leader"},
		{"dial unix /tmp/walship-pg-1/.s.PGSQL.5433: connect: no such file or directory",
			"dial unix /tmp/walship-pg-1/.s.PGSQL.5433: connect: no such file or directory"},
		// Sentences already: left alone.
		{"connected, streaming from 0/0", "connected, streaming from 0/0"},
		{"refused: WAL removed", "refused: WAL removed"},
		{"disconnected: link cut", "disconnected: link cut"},
	} {
		if got := sentence(c.raw); got != c.want {
			t.Errorf("sentence(%q)\n = %q\nwant %q", c.raw, got, c.want)
		}
	}
}
