package transcoderv1

// Regenerate transcoder.pb.go and transcoder_grpc.pb.go (protoc 3.21+,
// protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.5.1 on PATH):
//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative transcoder.proto
