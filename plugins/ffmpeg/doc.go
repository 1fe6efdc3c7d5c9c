// Package ffmpeg is Colony's transcoder plugin logic: it drives ffmpeg as a child process with a software (libx264), NVENC or QuickSync profile.
//
// One ffmpeg process serves one session: the source goes in as MPEG-TS on
// its stdin, is decoded once, split and scaled to every rung, encoded with
// keyframes on the source's, and each rendition comes back as MPEG-TS on
// its own pipe (fd 3, 4, ...) with the source's timestamps (-copyts).
package ffmpeg
