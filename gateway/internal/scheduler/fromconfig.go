package scheduler

import "github.com/hookmesh/hookmesh/gateway/internal/config"

// FromConfig maps the config file's schedules to Schedules.
func FromConfig(list []config.Schedule) []Schedule {
	out := make([]Schedule, 0, len(list))
	for _, c := range list {
		out = append(out, Schedule{
			Name:      c.Name,
			Cron:      c.Cron,
			Timezone:  c.Timezone,
			Payload:   c.Payload.Value,
			Tolerance: c.Tolerance.Std(),
		})
	}
	return out
}
