// Package relay carries live streams between cluster nodes: origins serve them over one internal HTTP port and edges pull them.
package relay
