package mysql

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// NativePasswordHash is the hash mysql_native_password stores for password
// (mysql.user's authentication_string, MariaDB's Password column): "*" and
// the upper-case hex of SHA1(SHA1(password)). Comparing it with the stored
// one tells whether the password is already set without sending the
// password anywhere. It is itself sensitive: never print it.
func NativePasswordHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

// hashMatches compares a stored hash with password's, in constant time.
func hashMatches(stored, password string) bool {
	want := NativePasswordHash(password)
	return subtle.ConstantTimeCompare([]byte(strings.ToUpper(strings.TrimSpace(stored))), []byte(want)) == 1
}
