// Command colony-transcoder-qsv is Colony's Intel QuickSync transcoder plugin (ffmpeg with h264_qsv and QSV scaling); Colony starts it.
package main

import "github.com/colony-live/colony/plugins/ffmpeg"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { ffmpeg.Main(ffmpeg.QSV(), version) }
