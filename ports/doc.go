// Package ports declares the interfaces between Colony's core and its
// adapters: the stores the core drives (NodeRegistry, OriginClaims,
// StreamCatalog) and the use cases that protocol adapters drive (Ingest,
// Playback). Ports depend only on core domain types.
package ports
