"""Rolling robust z-scores with pandas, the way a user would compute them
without the service: a wide frame (one column per series), rolling median
and rolling median absolute deviation over a window, z = (x - med) / (1.4826 MAD).

usage: robustz.py FILE SERIES POINTS WINDOW
FILE holds POINTS x SERIES little-endian float64 values, row-major (one row
per time step). Prints one JSON line: the seconds the computation took
(loading excluded) and the number of points.
"""
import json
import sys
import time

import numpy as np
import pandas as pd


def main():
    path, series, points, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    values = np.fromfile(path, dtype="<f8").reshape(points, series)
    df = pd.DataFrame(values)
    t0 = time.perf_counter()
    med = df.rolling(window, min_periods=window // 2).median()
    mad = (df - med).abs().rolling(window, min_periods=window // 2).median()
    z = (df - med) / (1.4826 * mad)
    flagged = int((z.abs() > 5).to_numpy().sum())
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "points": series * points, "flagged": flagged}))


if __name__ == "__main__":
    main()
