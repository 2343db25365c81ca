#!/usr/bin/python3
"""Times scikit-learn's DBSCAN on the points BenchmarkRun (bench_test.go) uses.

    /usr/bin/python3 algorithms/dbscan/testdata/bench_sklearn.py [--n 100000] [--dims 2,8] [--repeat 3]

The points come from the same splitmix64 stream and the same recipe as
benchPoints in bench_test.go, computed with numpy's wrapping uint64
arithmetic and only additions and multiplications on doubles, so they are
bit-identical to Go's. The script prints, per dimension, the best wall time
of --repeat fits and the clusters and noise points found: the counts must
equal the "clusters" and "noise" metrics BenchmarkRun reports.
"""
import argparse
import hashlib
import time

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN

SEED = 20260105
CENTRES = 20
SIDE = 100.0
NOISE = 0.1
MIN_PTS = 10
SQRT3 = 1.7320508075688772
EPS = {2: 0.3, 8: 2.4}
GAMMA = np.uint64(0x9E3779B97F4A7C15)


def uniforms(start, count):
    """Draws start+1 .. start+count of the stream as doubles in [0, 1)."""
    k = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(SEED) + k * GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def bench_points(n, dim):
    centres = uniforms(0, CENTRES * dim).reshape(CENTRES, dim) * SIDE
    per = 2 + 4 * dim
    u = uniforms(CENTRES * dim, n * per).reshape(n, per)
    noise = u[:, 0] < NOISE
    c = (u[:, 1] * CENTRES).astype(np.int64)
    q = u[:, 2:].reshape(n, dim, 4)
    # same association order as Go: ((u1+u2)+u3)+u4, then -2, then *sqrt3
    g = (((q[:, :, 0] + q[:, :, 1]) + q[:, :, 2]) + q[:, :, 3] - 2.0) * SQRT3
    pts = centres[c] + g
    pts[noise] = q[noise, :, 0] * SIDE
    return pts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dims", default="2,8")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    for dim in (int(d) for d in args.dims.split(",")):
        pts = bench_points(args.n, dim)
        digest = hashlib.sha256(pts.astype("<f8").tobytes()).hexdigest()[:16]
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            db = DBSCAN(eps=EPS[dim], min_samples=MIN_PTS).fit(pts)
            best = min(best, time.perf_counter() - t0)
        labels = db.labels_
        print(f"dim={dim} n={args.n} eps={EPS[dim]} min_samples={MIN_PTS}: "
              f"{best:.3f} s (best of {args.repeat}), clusters={labels.max() + 1} "
              f"noise={(labels == -1).sum()} points_sha256={digest}")


if __name__ == "__main__":
    main()
