package eventlog

// StopServerForTest shuts the embedded server down under a live Log, as a crash of
// the server would.
func (l *Log) StopServerForTest() {
	if l.srv != nil {
		l.srv.Shutdown()
	}
}
