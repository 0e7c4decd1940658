//go:build !unix

package pg

// No local cluster runs here (see localSupported), so there is no server
// to stop.
func ownedBy(int, string) bool { return false }
func alive(int) bool           { return false }
