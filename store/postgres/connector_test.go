package postgres

import (
	"context"
	"database/sql/driver"
)

// connector opens dsn with drv, a driver made for one test (with its
// functions) that database/sql's registry would keep for good.
type connector struct {
	dsn string
	drv driver.Driver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }
