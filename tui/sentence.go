package tui

import "strings"

// Raw Go errors (from the engine's sockets and files) turned into
// sentences for the screen. The raw text stays available: the event log's
// detail shows it under the sentence.

// errStep names what a node was doing when an error ended it, by the
// prefix the engine wraps the error with.
var errSteps = []struct{ prefix, doing string }{
	{"waiting for welcome: ", "while it waited for the leader's welcome"},
	{"welcome: ", "while the leader welcomed it"},
	{"hello: ", "while it said hello to the leader"},
	{"connect: ", "while it connected to the leader"},
	{"writing WAL: ", "while it wrote WAL"},
	{"base backup: ", "during a base backup"},
	{"disconnected: ", ""},
}

// netCauses are the low-level causes, by a phrase in the error, in plain
// words; the phrase itself follows in brackets, so that nothing is hidden
// from someone who knows it.
var netCauses = []struct{ phrase, cause string }{
	{"connection refused", "nothing answered"},
	{"connection reset by peer", "the other end dropped the connection"},
	{"broken pipe", "the other end had already closed the connection"},
	{"use of closed network connection", "the connection was closed"},
	{"i/o timeout", "no answer came in time"},
	{"deadline exceeded", "no answer came in time"},
	{"unexpected EOF", "the connection closed in the middle of a frame"},
	{"EOF", "the other end closed the connection"},
}

// sentence is text with a raw Go error in it said as a sentence: what
// went wrong and what the node was doing. Text with no raw error is
// returned as it is.
func sentence(text string) string {
	rest := text
	var lead, doing string
	for {
		matched := false
		for _, s := range errSteps {
			if after, ok := strings.CutPrefix(rest, s.prefix); ok {
				if doing == "" {
					doing = s.doing
				}
				if s.prefix == "disconnected: " {
					lead = "disconnected: "
				}
				rest, matched = after, true
				break
			}
		}
		if !matched {
			break
		}
	}
	if !isRawNetError(rest) {
		if rest == text {
			return text
		}
		return lead + withDoing(rest, doing)
	}
	for _, c := range netCauses {
		if strings.Contains(rest, c.phrase) {
			return lead + withDoing(c.cause+" ("+c.phrase+")", doing)
		}
	}
	return text
}

// isRawNetError reports whether s reads like a Go error from a TCP
// socket: an operation and an address pair, or a bare EOF. (Errors from a
// real PostgreSQL's sockets name paths a PostgreSQL user wants to see,
// and are left as they are.)
func isRawNetError(s string) bool {
	switch {
	case s == "EOF" || s == "unexpected EOF":
		return true
	case strings.HasPrefix(s, "read tcp "), strings.HasPrefix(s, "write tcp "), strings.HasPrefix(s, "dial tcp "):
		return true
	}
	return false
}

func withDoing(cause, doing string) string {
	if doing == "" {
		return cause
	}
	return cause + " " + doing
}
