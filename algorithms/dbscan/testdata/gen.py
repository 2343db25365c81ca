#!/usr/bin/python3
"""Golden cases for the Go DBSCAN: points, scikit-learn's labels and core samples.

Run from anywhere with Debian's scikit-learn (apt-get install python3-sklearn):

    /usr/bin/python3 algorithms/dbscan/testdata/gen.py

Each case is written to algorithms/dbscan/testdata/<name>.json as
{"name", "eps", "min_samples", "dim", "points": [[...], ...],
 "labels": [...], "core_sample_indices": [...], "sklearn": "<version>"}.
The points are rounded to 5 decimals before fitting, so Go reads exactly the
floats scikit-learn saw. Everything is seeded: running the script again gives
the same files.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN
from sklearn.datasets import make_blobs

HERE = os.path.dirname(os.path.abspath(__file__))


def blobs_with_noise(seed, n, dim, centers, std, n_noise, box):
    rng = np.random.RandomState(seed)
    x, _ = make_blobs(n_samples=n, n_features=dim, centers=centers,
                      cluster_std=std, random_state=seed)
    noise = rng.uniform(-box, box, size=(n_noise, dim))
    pts = np.vstack([x, noise])
    return pts[rng.permutation(len(pts))]


def cases():
    # 2-D blobs with uniform noise; min_samples high enough for many border
    # points, a few of them within eps of two clusters.
    yield "blobs2d", blobs_with_noise(1, 600, 2, 4, 0.7, 80, 12), 0.45, 8
    # 3-D (the last dimension the grid index serves by default).
    yield "blobs3d", blobs_with_noise(2, 500, 3, 3, 0.8, 60, 12), 0.7, 6
    # 8-D: the kd-tree path.
    yield "blobs8d", blobs_with_noise(3, 500, 8, 4, 0.6, 60, 8), 1.6, 5

    # Many exact duplicates on a coarse lattice: ties at distance exactly
    # eps (0.5 on a 0.25 lattice) and identical points must count each copy.
    rng = np.random.RandomState(4)
    base = np.round(rng.normal(0, 1.2, size=(70, 2)) * 4) / 4
    reps = rng.randint(1, 6, size=len(base))
    dup = np.repeat(base, reps, axis=0)
    yield "duplicates", dup[rng.permutation(len(dup))], 0.5, 4

    # All noise: sparse points, small eps.
    rng = np.random.RandomState(5)
    yield "all_noise", rng.uniform(0, 100, size=(120, 2)), 1.0, 3

    # One cluster: a single dense blob, every point core or border.
    x, _ = make_blobs(n_samples=300, n_features=2, centers=1, cluster_std=0.5, random_state=6)
    yield "one_cluster", x, 0.6, 5

    # Chains: two clusters joined only through border points, so the border
    # rule decides.
    rng = np.random.RandomState(7)
    a = rng.normal([0, 0], 0.15, size=(60, 2))
    b = rng.normal([1.3, 0], 0.15, size=(60, 2))
    bridge = np.column_stack([np.linspace(0.45, 0.85, 5), rng.normal(0, 0.02, 5)])
    pts = np.vstack([a, b, bridge])
    yield "bridge", pts[rng.permutation(len(pts))], 0.3, 12

    # Shared borders: two dense squares 1.6 eps apart with a sparse line of
    # points between them, each within eps of core points of both squares.
    rng = np.random.RandomState(9)
    eps, gap = 0.1, 0.16
    a = rng.uniform([0, 0], [1, 1], size=(400, 2))
    b = rng.uniform([1 + gap, 0], [2 + gap, 1], size=(400, 2))
    mid = np.column_stack([1 + gap / 2 + rng.normal(0, 0.005, 8), np.linspace(0.05, 0.95, 8)])
    pts = np.vstack([a, b, mid])
    yield "shared_border", pts[rng.permutation(len(pts))], eps, 6


def main():
    for name, pts, eps, min_samples in cases():
        pts = np.round(np.asarray(pts, dtype=float), 5)
        db = DBSCAN(eps=eps, min_samples=min_samples).fit(pts)
        core = sorted(int(i) for i in db.core_sample_indices_)
        labels = [int(l) for l in db.labels_]
        out = {
            "name": name,
            "eps": eps,
            "min_samples": min_samples,
            "dim": int(pts.shape[1]),
            "points": pts.tolist(),
            "labels": labels,
            "core_sample_indices": core,
            "sklearn": sklearn.__version__,
        }
        path = os.path.join(HERE, name + ".json")
        with open(path, "w") as f:
            json.dump(out, f, separators=(",", ":"))
            f.write("\n")
        k = max(labels) + 1
        border = len(pts) - len(core) - labels.count(-1)
        print(f"{name}: n={len(pts)} dim={pts.shape[1]} clusters={k} core={len(core)} "
              f"border={border} noise={labels.count(-1)}")


if __name__ == "__main__":
    main()
