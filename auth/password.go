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
	gate  *Gate  // nil: unbounded
}

// NewLimitedPasswords returns a Passwords hashing at cost whose every bcrypt
// computation passes gate; a full gate makes Hash and Check fail with ErrBusy.
func NewLimitedPasswords(cost int, gate *Gate) (*Passwords, error) {
	p, err := NewPasswords(cost)
	if err != nil {
		return nil, err
	}
	p.gate = gate
	return p, nil
}

// NewPasswords returns a Passwords hashing at cost, without a bound on how
// many hashes run at once.
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
	release, err := p.enter(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	var h []byte
	background(func() { h, err = bcrypt.GenerateFromPassword([]byte(password), p.cost) })
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Check reports whether password matches hash. An empty hash (unknown account)
// is compared against a dummy hash so that it costs the same and never matches.
func (p *Passwords) Check(ctx context.Context, hash, password string) (bool, error) {
	release, err := p.enter(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	if hash == "" {
		background(func() { _ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password)) })
		return false, nil
	}
	background(func() { err = bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) })
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	return true, nil
}

// enter takes a turn at the gate, if there is one.
func (p *Passwords) enter(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.gate == nil {
		return func() {}, nil
	}
	return p.gate.Enter(ctx)
}
