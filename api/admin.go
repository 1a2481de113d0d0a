package api

import (
	"context"
	"time"
)

type (
	healthOutput struct {
		Body struct {
			Status string `json:"status" example:"ok"`
		}
	}
)

func (s *Server) handleHealthz(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	out := &healthOutput{}
	out.Body.Status = "ok"
	return out, nil
}

func (s *Server) handleReadyz(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		return nil, retryLater(huma503("The database is not reachable."))
	}
	out := &healthOutput{}
	out.Body.Status = "ok"
	return out, nil
}
