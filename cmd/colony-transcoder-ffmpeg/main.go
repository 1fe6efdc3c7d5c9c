// Command colony-transcoder-ffmpeg is Colony's software transcoder plugin (ffmpeg with libx264); Colony starts it.
package main

import "github.com/colony-live/colony/plugins/ffmpeg"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { ffmpeg.Main(ffmpeg.Software(), version) }
