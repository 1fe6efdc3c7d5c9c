// Command colony-transcoder-nvenc is Colony's NVIDIA transcoder plugin (ffmpeg with h264_nvenc and CUDA scaling); Colony starts it.
package main

import "github.com/colony-live/colony/plugins/ffmpeg"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { ffmpeg.Main(ffmpeg.NVENC(), version) }
