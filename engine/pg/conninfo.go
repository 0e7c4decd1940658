package pg

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// conninfo is a libpq key/value connection string ("host=/tmp port=5433
// application_name=follower-1"), kept in order so that editing one key
// (re-pointing a standby's primary_conninfo at a new primary) leaves the
// others as they were written.
type conninfo []kv

type kv struct{ key, value string }

// parseConninfo reads libpq's key/value form: key = value pairs separated
// by blanks, a value in single quotes when it holds blanks, a backslash
// escaping the next character. URIs (postgres://...) are not this form.
func parseConninfo(s string) (conninfo, error) {
	var ci conninfo
	i := 0
	skip := func() {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return ci, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isBlank(s[i]) {
			i++
		}
		key := s[start:i]
		skip()
		if i >= len(s) || s[i] != '=' || key == "" {
			return nil, fmt.Errorf("pg: bad connection string %q: want key=value pairs, %q has no '='", s, key)
		}
		i++
		skip()
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					v.WriteByte(s[i])
					i++
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("pg: bad connection string: the value of %s has no closing quote", key)
			}
		} else {
			for i < len(s) && !isBlank(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
		}
		ci = append(ci, kv{key, v.String()})
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// get returns the last value of key (libpq takes the last one).
func (ci conninfo) get(key string) (string, bool) {
	for i := len(ci) - 1; i >= 0; i-- {
		if ci[i].key == key {
			return ci[i].value, true
		}
	}
	return "", false
}

// with returns a copy with key set to value: in place where the key was,
// appended otherwise.
func (ci conninfo) with(key, value string) conninfo {
	out := make(conninfo, 0, len(ci)+1)
	set := false
	for _, p := range ci {
		if p.key == key {
			if set {
				continue
			}
			p.value, set = value, true
		}
		out = append(out, p)
	}
	if !set {
		out = append(out, kv{key, value})
	}
	return out
}

// without returns a copy with key removed.
func (ci conninfo) without(key string) conninfo {
	out := make(conninfo, 0, len(ci))
	for _, p := range ci {
		if p.key != key {
			out = append(out, p)
		}
	}
	return out
}

// String writes the pairs back in libpq's form, quoting values that need it.
func (ci conninfo) String() string {
	var b strings.Builder
	for i, p := range ci {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(quoteConnValue(p.value))
	}
	return b.String()
}

func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r'\\=") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// masked is the connection string with its password hidden, for events.
func (ci conninfo) masked() string {
	if _, ok := ci.get("password"); !ok {
		return ci.String()
	}
	return ci.with("password", "****").String()
}

// quoteLiteral is a SQL string literal for s ('it”s').
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteIdent is a SQL identifier for s ("follower-1"), as
// synchronous_standby_names wants names with a hyphen written.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// StandbyConnConfig parses a standby's connection string (key=value
// pairs, or a URI) the way pgx and libpq do, PG* variables included. A
// key=value string takes the primary's host, port, user, database and
// password for the keys it leaves out, so that "port=5433" or
// "host=db2" is enough.
func StandbyConnConfig(s string, primary *pgx.ConnConfig) (*pgx.ConnConfig, error) {
	if !strings.Contains(s, "://") {
		ci, err := parseConninfo(s)
		if err != nil {
			return nil, err
		}
		for _, p := range []kv{{"host", primary.Host}, {"port", strconv.Itoa(int(primary.Port))},
			{"user", primary.User}, {"dbname", primary.Database}, {"password", primary.Password}} {
			if _, set := ci.get(p.key); !set && p.value != "" {
				ci = ci.with(p.key, p.value)
			}
		}
		s = ci.String()
	}
	return pgx.ParseConfig(s)
}
