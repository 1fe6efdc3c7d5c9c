//go:build !linux

package ffmpeg

import "os/exec"

// setProcAttr does nothing here: only Linux has a parent-death signal. A
// dead plugin's ffmpeg still ends when its stdin closes.
func setProcAttr(*exec.Cmd) {}
