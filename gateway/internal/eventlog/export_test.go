package eventlog

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// StopServerForTest shuts the embedded server down under a live Log, as a crash of
// the server would.
func (l *Log) StopServerForTest() {
	if l.srv != nil {
		l.srv.Shutdown()
	}
}

// RetryAppendForTest appends ev the way Append's retry does after an attempt that got
// no answer. With landed, that earlier attempt reached the stream first: ev is
// published once without asking for an acknowledgement, as if the answer had been
// lost with a dying leader.
func (l *Log) RetryAppendForTest(ctx context.Context, ev *eventv1.Event, landed bool) (AppendResult, error) {
	data, err := proto.Marshal(ev)
	if err != nil {
		return AppendResult{}, err
	}
	msg := l.eventMsg(ev, data)
	if landed {
		if err := l.nc.PublishMsg(msg); err != nil {
			return AppendResult{}, err
		}
		// Stored asynchronously: wait until it is, so the retry finds it.
		for {
			_, err := l.leaderGet(ctx, l.nc, l.streamName, msgGetRequest{LastFor: msg.Subject})
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return AppendResult{}, err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return l.appendMsg(ctx, msg, true)
}
