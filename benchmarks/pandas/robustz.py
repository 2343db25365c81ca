"""Rolling robust z-scores with pandas, the way a user would compute them
without the service, in the two forms people write: a wide frame (one
column per series) and a long frame grouped by series. Both take the
rolling median and the rolling median absolute deviation over a window,
z = (x - med) / (1.4826 MAD), and count the points with |z| > 5.

usage: robustz.py FILE SERIES POINTS WINDOW [FLAGGED]
FILE holds POINTS x SERIES little-endian float64 values, row-major (one row
per time step). Prints one JSON line: the seconds each form took (loading
and reshaping excluded), wall clock and process CPU time, the flagged counts
and the number of points. With FLAGGED, writes there the row-major indices
(time step * SERIES + series) of the points the wide form flagged, as
little-endian int64, after the timing.
"""
import json
import sys
import time

import numpy as np
import pandas as pd


def wide(values, window):
    df = pd.DataFrame(values)
    t0, c0 = time.perf_counter(), time.process_time()
    med = df.rolling(window, min_periods=window // 2).median()
    mad = (df - med).abs().rolling(window, min_periods=window // 2).median()
    z = (df - med) / (1.4826 * mad)
    mask = (z.abs() > 5).to_numpy()
    flagged = int(mask.sum())
    return time.perf_counter() - t0, time.process_time() - c0, flagged, mask


def groupby(values, window):
    points, series = values.shape
    long = pd.DataFrame({
        "series": np.repeat(np.arange(series), points),
        "value": values.T.reshape(-1),  # series after series, in time order
    })
    t0, c0 = time.perf_counter(), time.process_time()
    g = long.groupby("series", sort=False)["value"]
    med = g.rolling(window, min_periods=window // 2).median().reset_index(level=0, drop=True)
    dev = (long["value"] - med).abs()
    mad = dev.groupby(long["series"], sort=False).rolling(window, min_periods=window // 2).median().reset_index(level=0, drop=True)
    z = (long["value"] - med) / (1.4826 * mad)
    flagged = int((z.abs() > 5).to_numpy().sum())
    return time.perf_counter() - t0, time.process_time() - c0, flagged


def main():
    path, series, points, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    values = np.fromfile(path, dtype="<f8").reshape(points, series)
    ws, wc, wf, mask = wide(values, window)
    if len(sys.argv) > 5:
        np.flatnonzero(mask.reshape(-1)).astype("<i8").tofile(sys.argv[5])
    del mask
    gs, gc, gf = groupby(values, window)
    print(json.dumps({"points": series * points, "wide_seconds": ws, "wide_cpu_seconds": wc,
                      "wide_flagged": wf, "groupby_seconds": gs, "groupby_cpu_seconds": gc,
                      "groupby_flagged": gf}))


if __name__ == "__main__":
    main()
