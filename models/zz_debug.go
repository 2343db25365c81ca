package models

import (
	"os"
	"strconv"
)

func init() {
	if s := os.Getenv("BANDCAP"); s != "" {
		bandCapZ, _ = strconv.ParseFloat(s, 64)
	}
}
