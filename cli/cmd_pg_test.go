package cli

import "testing"

// TestPGWatchConfig checks the connection flags: -h, -p and -U on top of
// -d, and each --standby taking the primary's host, port, user and
// database for the keys it leaves out.
func TestPGWatchConfig(t *testing.T) {
	t.Setenv("PGHOST", "envhost")
	t.Setenv("PGUSER", "envuser")
	o := pgWatchOptions{host: "/tmp/sock dir", port: "5433", dbname: "app",
		standbys: []string{"port=5434", "host=db3 user=other", "postgres://u@db4:6000/x", "host = db5 port = 7000"}}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Primary
	if p.Host != "/tmp/sock dir" || p.Port != 5433 || p.User != "envuser" || p.Database != "app" {
		t.Errorf("primary: %s:%d user %s db %s", p.Host, p.Port, p.User, p.Database)
	}
	want := []struct {
		host string
		port uint16
		user string
		db   string
	}{{"/tmp/sock dir", 5434, "envuser", "app"}, {"db3", 5433, "other", "app"}, {"db4", 6000, "u", "x"}, {"db5", 7000, "envuser", "app"}}
	for i, w := range want {
		s := cfg.Standbys[i]
		if s.Host != w.host || s.Port != w.port || s.User != w.user || s.Database != w.db {
			t.Errorf("standby %d: %s:%d user %s db %s, want %+v", i, s.Host, s.Port, s.User, s.Database, w)
		}
	}
	for _, bad := range []pgWatchOptions{{port: "x"}, {port: "70000"}, {standbys: []string{"host='unclosed"}}} {
		if _, err := bad.config(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
