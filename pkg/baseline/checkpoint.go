package baseline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// checkpoint is how far a run got: the records of each phase read (and
// matched, and their rows written) and the size of each report file then.
// It is written after the files are flushed and synced, so the files hold
// at least what it says; a resumed run cuts them back to these sizes.
type checkpoint struct {
	Fingerprint string           `json:"fingerprint"`
	Now         time.Time        `json:"now"`
	Phase       int              `json:"phase"`
	Records     int64            `json:"records"`
	Files       map[string]int64 `json:"files"`
	Finished    bool             `json:"finished,omitempty"`
	Summary     Summary          `json:"summary"`
}

func (ck *checkpoint) save(dir Dir, sizes map[string]int64) error {
	ck.Files = sizes
	b, err := json.MarshalIndent(ck, "", "  ")
	if err != nil {
		return fmt.Errorf("baseline: checkpoint: %w", err)
	}
	if err := dir.WriteFile(FileCheckpoint, b); err != nil {
		return fmt.Errorf("baseline: checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint reads the checkpoint of dir; nil when there is none.
func loadCheckpoint(dir Dir) (*checkpoint, error) {
	b, err := dir.ReadFile(FileCheckpoint)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("baseline: read checkpoint: %w", err)
	}
	var ck checkpoint
	if err := json.Unmarshal(b, &ck); err != nil {
		return nil, fmt.Errorf("baseline: checkpoint %s is unreadable (%w): start afresh without --resume", FileCheckpoint, err)
	}
	return &ck, nil
}
