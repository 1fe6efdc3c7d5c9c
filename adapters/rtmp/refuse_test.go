package rtmp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/ports"
)

func TestSecondPublisherRefused(t *testing.T) {
	t.Parallel()
	requireFFmpeg(t)
	rec := newPubRecorder(t)
	srv, addr := startServer(t, rec.ingest(), Config{})
	url := "rtmp://" + addr + "/LiveApp/busy"

	first := startFFmpeg(t, url, 30)
	pub := rec.next(t, 3*time.Second)
	pub.waitStarted(t, 3*time.Second)

	stderr, err := runFFmpeg(t, url, 1)
	if err == nil {
		t.Fatalf("second publisher: ffmpeg succeeded, want a refusal\n%s", stderr)
	}
	if !strings.Contains(stderr, descBusy) {
		t.Fatalf("second publisher's stderr does not say %q:\n%s", descBusy, stderr)
	}
	if got := len(rec.requests()); got != 2 {
		t.Fatalf("%d publish requests, want 2", got)
	}
	if srv.Stats().Publishers != 1 {
		t.Fatalf("stats = %+v, want 1 publisher", srv.Stats())
	}

	// The first publisher is unaffected: it keeps sending, then ends cleanly.
	n := pub.unitCount()
	waitFor(t, 3*time.Second, func() bool { return pub.unitCount() > n+30 })
	first.stop(t)
	if err := pub.waitEnded(t, 5*time.Second); err != nil {
		t.Fatalf("first publisher: End(%v), want End(nil)", err)
	}
}

func TestPublishRefused(t *testing.T) {
	t.Parallel()
	requireFFmpeg(t)
	tests := []struct {
		name       string
		path       string
		publishErr error // returned by the fake ingest
		wantCalled bool
		wantStderr string
	}{
		{name: "invalid stream id", path: "/LiveApp/bad..id", wantStderr: "invalid stream id"},
		{name: "invalid app", path: "/Live$App/ok", wantStderr: "invalid application name"},
		{name: "unknown app", path: "/NoApp/ok", publishErr: fmt.Errorf("app NoApp: %w", ports.ErrUnknownApp), wantCalled: true, wantStderr: descUnknownApp},
		{name: "unauthorized", path: "/LiveApp/ok?token=bad", publishErr: fmt.Errorf("%w: token expired", ports.ErrUnauthorized), wantCalled: true, wantStderr: "unauthorized: token expired"},
		{name: "internal", path: "/LiveApp/ok", publishErr: errors.New("database on fire"), wantCalled: true, wantStderr: descInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			called := make(chan ports.PublishRequest, 1)
			ingest := &fakeIngest{publish: func(_ context.Context, req ports.PublishRequest) (ports.Publication, error) {
				called <- req
				return nil, tc.publishErr
			}}
			srv, addr := startServer(t, ingest, Config{})
			stderr, err := runFFmpeg(t, "rtmp://"+addr+tc.path, 1)
			if err == nil {
				t.Fatalf("ffmpeg succeeded, want a refusal\n%s", stderr)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Fatalf("stderr does not say %q:\n%s", tc.wantStderr, stderr)
			}
			if got := len(called) == 1; got != tc.wantCalled {
				t.Fatalf("ingest called: %v, want %v", got, tc.wantCalled)
			}
			waitFor(t, 2*time.Second, func() bool { return srv.Stats().Connections == 0 })
		})
	}
}
