package main

import (
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// The generator's WebRTC viewers share one DTLS certificate: their offers
// carry one fingerprint.
func TestViewersShareCertificate(t *testing.T) {
	sh, err := newRTCShared()
	if err != nil {
		t.Fatal(err)
	}
	var prints []string
	for range 2 {
		pc, _, err := newRTCPeerConnection(sh)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if err := addRecvTransceivers(pc); err != nil {
			t.Fatal(err)
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		prints = append(prints, fingerprint(offer))
	}
	want, err := sh.cert.GetFingerprints()
	if err != nil || len(want) == 0 {
		t.Fatalf("fingerprints %v, %v", want, err)
	}
	for i, p := range prints {
		if !strings.EqualFold(p, want[0].Algorithm+" "+want[0].Value) {
			t.Fatalf("viewer %d offers fingerprint %q, want the shared certificate's %s %s", i, p, want[0].Algorithm, want[0].Value)
		}
	}
}

func fingerprint(d webrtc.SessionDescription) string {
	for _, l := range strings.Split(d.SDP, "\r\n") {
		if v, ok := strings.CutPrefix(l, "a=fingerprint:"); ok {
			return v
		}
	}
	return ""
}
