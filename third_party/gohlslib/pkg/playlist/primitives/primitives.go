// Package primitives contains playlist primitives.
package primitives
