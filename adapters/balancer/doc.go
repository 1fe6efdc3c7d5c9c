// Package balancer renders nginx and HAProxy configurations that put a cluster behind one front door, and keeps them in step with the registry.
package balancer
