package ffmpeg

import (
	"bytes"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// stderrLog is ffmpeg's stderr: each line goes to the plugin's log (and so
// to the host's), and the last lines are kept to explain a failure.
type stderrLog struct {
	log hclog.Logger

	mu   sync.Mutex
	part []byte
	last []string
}

const stderrKeep = 12

func (s *stderrLog) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.part = append(s.part, b...)
	for {
		i := bytes.IndexByte(s.part, '\n')
		if i < 0 {
			break
		}
		s.line(string(s.part[:i]))
		s.part = s.part[i+1:]
	}
	if len(s.part) > 4096 { // a runaway line without newline
		s.line(string(s.part))
		s.part = s.part[:0]
	}
	return len(b), nil
}

// line logs one line. Called with mu held.
func (s *stderrLog) line(l string) {
	l = strings.TrimRight(l, "\r ")
	if l == "" {
		return
	}
	if isBenign(l) {
		s.log.Debug("ffmpeg", "line", l)
	} else {
		s.log.Warn("ffmpeg", "line", l)
	}
	if len(s.last) == stderrKeep {
		s.last = append(s.last[:0], s.last[1:]...)
	}
	s.last = append(s.last, l)
}

// benign are ffmpeg warnings that the plugin's settings make expected.
var benign = []string{
	"not enough frames to estimate rate", // -fpsprobesize 0: the timestamps are kept anyway
	"co located POCs unavailable",        // a B-frame right after a keyframe the decoder started at
}

func isBenign(line string) bool {
	for _, b := range benign {
		if strings.Contains(line, b) {
			return true
		}
	}
	return false
}

// summary returns the informative part of the last lines.
func (s *stderrLog) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errorSummary(strings.Join(s.last, "\n"))
}
