package scheduler

import "time"

// Clock is the scheduler's time source. Tests pass a fake one to step through days in
// milliseconds.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// Timer fires once Now() has reached at (at once when it already has). An absolute
	// deadline, rather than a duration, keeps a fake clock that is advanced between
	// the scheduler reading Now and arming the timer from delaying the wake-up.
	Timer(at time.Time) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C receives the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was still pending.
	Stop() bool
}

// SystemClock is the wall clock (the default).
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// Timer fires at the wall-clock instant at. A wall-clock jump is noticed at the next
// poll (Config.Poll), since the timer itself runs on the monotonic clock.
func (SystemClock) Timer(at time.Time) Timer {
	return systemTimer{time.NewTimer(time.Until(at))}
}

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }
