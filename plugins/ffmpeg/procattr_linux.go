package ffmpeg

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill ffmpeg when the plugin process dies,
// even by SIGKILL, so no encoder outlives its plugin.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
