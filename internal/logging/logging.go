// Package logging carries the job's structured logger in its context, so every
// line of a job names its delivery, repository and pull request.
package logging

import (
	"context"
	"io"
	"log/slog"
)

type ctxKey struct{}

// New returns the bot's JSON logger at the given level (debug, info, warn,
// error).
func New(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// With returns ctx carrying logger.
func With(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, logger)
}

// WithAttrs returns ctx whose logger also carries attrs.
func WithAttrs(ctx context.Context, attrs ...any) context.Context {
	return With(ctx, From(ctx).With(attrs...))
}

// From returns the logger in ctx, or slog.Default().
func From(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
