//go:build !(linux && (amd64 || arm64))

package webrtc

func newBatchSender(*batchConn, bool) batchSender { return plainSender{} }
