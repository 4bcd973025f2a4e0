package cron_test

import (
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/scheduler/cron"
)

func BenchmarkParse(b *testing.B) {
	for range b.N {
		if _, err := cron.Parse("*/15 0-6,22-23 1,15 JAN-MAR sun"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name, expr string
		loc        *time.Location
	}{
		{"daily/UTC", "0 9 * * *", time.UTC},
		{"daily/Berlin", "0 9 * * *", berlin},
		{"every-5/Berlin", "*/5 * * * *", berlin},
		{"leap-day/UTC", "0 0 29 2 *", time.UTC},
	} {
		e := cron.MustParse(bc.expr)
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				if e.Next(from, bc.loc).IsZero() {
					b.Fatal("no next")
				}
			}
		})
	}
}
