// Package pluginhost is the transcoder plugin host: it runs colony-transcoder-<name> plugins (hashicorp/go-plugin) and implements ports.Transcoder with them.
package pluginhost
