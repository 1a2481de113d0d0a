package auth

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// Passwords hashes and checks passwords with bcrypt at a fixed cost.
type Passwords struct {
	cost  int
	dummy []byte // compared against when an email is unknown, so timing does not tell
}

// NewPasswords returns a Passwords hashing at cost.
func NewPasswords(cost int) (*Passwords, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost must be between %d and %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("orgd-dummy-password"), cost)
	if err != nil {
		return nil, err
	}
	return &Passwords{cost: cost, dummy: dummy}, nil
}

// Hash returns the bcrypt hash of password.
func (p *Passwords) Hash(ctx context.Context, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Check reports whether password matches hash. An empty hash (unknown account)
// is compared against a dummy hash so that it costs the same and never matches.
func (p *Passwords) Check(ctx context.Context, hash, password string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password))
		return false, nil
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	return true, nil
}
