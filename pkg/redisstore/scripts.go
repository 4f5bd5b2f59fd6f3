package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// isNoScript says Redis does not have a script any more (a restart, a
// failover, SCRIPT FLUSH): the caller loads it and tries again.
func isNoScript(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT")
}

// runLoadingScript runs run, which calls script by its SHA (EvalSha, also
// inside a pipeline); when Redis lost the script it loads it and runs run
// once more. run must be safe to redo: an idempotent save, or a change
// whose script checks the state it starts from.
func runLoadingScript(ctx context.Context, rdb redis.Scripter, script *redis.Script, name string, run func() error) error {
	err := run()
	if !isNoScript(err) {
		return err
	}
	if err := script.Load(ctx, rdb).Err(); err != nil {
		return fmt.Errorf("load %s script: %w", name, err)
	}
	return run()
}
