"""Writes explore.ipynb from the cells below (run: python3 make_notebook.py).
Kept as a script so the notebook's source is reviewable as plain Python."""
import json

cells = [
("markdown", """# Exploring the detector's verdicts

This notebook streams one NAB series (the New York taxi demand, with its
labelled incidents) into a running detector, then reads back the anomaly
timeline, the learned baseline and a stateless batch fit, and plots them.

Start the service first (`go run ./cmd/detector serve`), or set
`DETECTOR_URL`. `NAB_DIR` points at the NAB data (default `../../shared/nab`)."""),
("code", """import os, sys, csv, datetime as dt
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
sys.path.insert(0, os.getcwd())
from detector_client import Detector

d = Detector()
print("service:", d.base, d.health())"""),
("code", """nab = os.environ.get("NAB_DIR", os.path.join("..", "..", "shared", "nab"))
path = os.path.join(nab, "data", "realKnownCause", "nyc_taxi.csv")
rows = pd.read_csv(path)
rows["timestamp"] = pd.to_datetime(rows["timestamp"], utc=True)
series = 'taxi_passengers{city="nyc",source="nab"}'
points = [{"series": series, "timestamp": int(t.timestamp()), "value": float(v)}
          for t, v in zip(rows["timestamp"], rows["value"])]
res = d.push(points)
print(f"accepted {res['accepted']}, rejected {res['rejected']}, anomalous verdicts {len(res['anomalies'])}")"""),
("code", """timeline = d.anomalies_frame(series=series)
print(f"anomalies found: {len(timeline)}")
timeline[["id", "detector", "started_at", "ended_at", "peak_score", "peak_value", "peak_expected", "points"]].head(20)"""),
("code", """b = d.baseline(series)
print("state:", b["state"], "points:", b["points"], "period (s):", b["baseline"]["period_seconds"])
prof = b["baseline"]["seasonal"]
if prof:
    plt.figure(figsize=(8, 2.5))
    plt.plot([24 * i / len(prof) for i in range(len(prof))] if b["baseline"]["period_seconds"] == 86400 else range(len(prof)), prof)
    plt.title("learned seasonal profile"); plt.tight_layout(); plt.show()"""),
("code", """fit = d.batch([{"timestamp": p["timestamp"], "value": p["value"]} for p in points])
band = d.verdicts_frame(fit["verdicts"])
print("batch fit: period", fit["period_seconds"], "s,", fit["anomalies"], "anomalous points")
fig, ax = plt.subplots(figsize=(14, 4))
ax.plot(rows["timestamp"], rows["value"], lw=0.6, label="value")
ax.fill_between(band["timestamp"], band["lower"], band["upper"], alpha=0.25, label="batch band")
for t in timeline["started_at"]:
    ax.axvline(t, color="red", lw=0.8, alpha=0.7)
labels_path = os.path.join(nab, "labels", "combined_windows.json")
if os.path.exists(labels_path):
    import json
    for a, z in json.load(open(labels_path)).get("realKnownCause/nyc_taxi.csv", []):
        ax.axvspan(pd.Timestamp(a, tz="UTC"), pd.Timestamp(z, tz="UTC"), color="orange", alpha=0.2)
ax.set_title("nyc_taxi: streaming anomalies (red), NAB windows (orange), batch band (blue)")
ax.legend(loc="upper left"); fig.tight_layout()
fig.savefig(os.environ.get("PLOT_PATH", "nyc_taxi.png"), dpi=80)
print("plot written")"""),
]

nb = {"nbformat": 4, "nbformat_minor": 5,
      "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}},
      "cells": []}
for i, (kind, src) in enumerate(cells):
    cell = {"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": src.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    nb["cells"].append(cell)
with open("explore.ipynb", "w") as f:
    json.dump(nb, f, indent=1)
    f.write("\n")
