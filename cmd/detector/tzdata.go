package main

// The time zone database is embedded so that --timezone works on hosts
// without /usr/share/zoneinfo (distroless images, fresh CI machines).
import _ "time/tzdata"
