package history

import "flag"

var memFlag = flag.Bool("history.mem", false, "measure the memory of a million series")
