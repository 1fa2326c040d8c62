package main

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestHashedPasswordIsCassandrasBcrypt: what roles sends in place of a password is a bcrypt hash
// at Cassandra's default cost that checks against the password and does not contain it; a
// password bcrypt would cut (over 72 bytes) is refused.
func TestHashedPasswordIsCassandrasBcrypt(t *testing.T) {
	pw := "0123456789abcdef0123456789abcdef0123456789abcdef"
	h, err := hashedPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, pw) || !strings.HasPrefix(h, "$2a$10$") {
		t.Errorf("hash %q: want a $2a$10$ bcrypt hash without the password", h)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)); err != nil {
		t.Errorf("the hash does not check against the password: %v", err)
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != 10 {
		t.Errorf("cost %d, want Cassandra's default 10", c)
	}
	if _, err := hashedPassword(strings.Repeat("x", 73)); err == nil {
		t.Error("a 73-byte password was hashed (bcrypt would check only its first 72 bytes)")
	}
}
