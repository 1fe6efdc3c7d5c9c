//go:build !(linux && (amd64 || arm64))

package webrtc

import "net"

func newBatchSender(*batchConn, bool) batchSender { return plainSender{} }

func newDatagramReader(*net.UDPConn) datagramReader { return nil }
