package ffmpeg

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// trialArgs is a one-frame encode through the profile's whole chain
// (device, upload, scale, encoder).
func (p Profile) trialArgs() []string {
	a := []string{"-hide_banner", "-nostdin", "-loglevel", "error"}
	a = append(a, p.globalArgs()...)
	a = append(a, "-f", "lavfi", "-i", "color=size=256x144:rate=25:duration=0.2",
		"-vf", p.upload()+","+p.scale(128, 72), "-frames:v", "1")
	a = append(a, p.encoderArgs(200_000, 25)...)
	return append(a, "-f", "null", "-")
}

// trial runs the trial encode. ok reports success; reason says why not.
func (p Profile) trial(ctx context.Context, ffmpeg string) (ok bool, reason string) {
	path, err := exec.LookPath(ffmpeg)
	if err != nil {
		return false, fmt.Sprintf("ffmpeg not found: %v", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, p.trialArgs()...)
	cmd.Stderr = &stderr
	setProcAttr(cmd)
	err = cmd.Run()
	if err == nil {
		return true, ""
	}
	if ctx.Err() != nil {
		return false, fmt.Sprintf("%s: trial encode timed out: %v", p.hint(), ctx.Err())
	}
	detail := errorSummary(stderr.String())
	if detail == "" {
		detail = err.Error()
	}
	return false, p.hint() + ": " + detail
}

var logPrefix = regexp.MustCompile(`^\[[^\]]+ @ 0x[0-9a-fA-F]+\] `)

// generic are ffmpeg's follow-up lines that add nothing to the first error.
var generic = []string{
	"Conversion failed!",
	"Error parsing global options",
	"Error initializing output stream",
	"Error while opening encoder",
	"Error initializing filter",
	"Error reinitializing filters",
	"Failed to inject frame into filter network",
}

// errorSummary keeps the informative lines of ffmpeg's error output, without
// the "[name @ 0x...]" prefixes and the generic follow-ups, at most 4 lines
// and 400 bytes, joined by "; ".
func errorSummary(stderr string) string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(logPrefix.ReplaceAllString(strings.TrimSpace(line), ""))
		if line == "" || seen[line] || isGeneric(line) {
			continue
		}
		seen[line] = true
		out = append(out, line)
		if len(out) == 4 {
			break
		}
	}
	s := strings.Join(out, "; ")
	if len(s) > 400 {
		s = s[:400]
	}
	return strings.ToValidUTF8(s, "")
}

func isGeneric(line string) bool {
	for _, g := range generic {
		if strings.HasPrefix(line, g) {
			return true
		}
	}
	return false
}
