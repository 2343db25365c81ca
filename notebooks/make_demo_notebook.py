"""Writes demo.ipynb from the cells below (run: python3 make_demo_notebook.py).
Kept as a script so the notebook's source is reviewable as plain Python."""
import json

cells = [
("markdown", """# The demo fleet: what is wrong, where, and since when

`detector demo` simulates a streaming service: play starts per title, device
and bitrate (daily and weekly cycles, count noise) and the CPU of the servers
of two edge clusters, with incidents in the last hours. This notebook asks
the questions an operator would:

1. Which keys are anomalous now, and what do they have in common (device
   family, title, bitrate)?
2. How did their bands look before and during the incident?
3. Which server behaves unlike its cluster, and why?
4. What happened just before (change events such as deploys)?

Run `go run ./cmd/detector demo` first (it serves on 127.0.0.1:8080), or set
`DETECTOR_URL` (and `DETECTOR_TOKEN` with access control on)."""),
("code", """import os, sys, datetime as dt
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
sys.path.insert(0, os.getcwd())
from detector_client import Detector

d = Detector()
print("service:", d.base, d.health())
fleet = d.series_frame("play_starts")
print(f"{len(fleet)} play-start series: {fleet['title'].nunique()} titles x {fleet['device'].nunique()} devices x {fleet['bitrate'].nunique()} bitrates")"""),
("markdown", """## 1. Which keys are anomalous now, and what they share

The timeline's anomalies of the last three hours, joined with the labels of
their series. A cross-table by device and title shows whether one device
family fails across titles (a client problem) or one title across devices
(a content problem)."""),
("code", """now = pd.Timestamp.now(tz="UTC")
tl = d.anomalies_frame(since=int((now - pd.Timedelta(hours=3)).timestamp()))
points = tl[tl["kind"] == "point"].copy()
labels = fleet.set_index("series")[["title", "device", "bitrate"]]
points = points.join(labels, on="series", how="inner")
print(f"{len(points)} point anomalies in the last 3 hours, {points['ended_at'].isna().sum()} still open")
by_device = points["device"].value_counts()
print("most anomalous device:", by_device.index[0], f"({by_device.iloc[0]} anomalies)")
pd.crosstab(points["device"], points["title"])"""),
("code", """# One title and bitrate across every device: a broken encode.
by_key = points.groupby(["title", "bitrate"])["device"].nunique().sort_values(ascending=False)
t, b = by_key.index[0]
print(f"broken encode: title {t} bitrate {b} anomalous on {by_key.iloc[0]} devices")
by_key.head(5)"""),
("markdown", """## 2. How the bands looked

`GET /api/v1/series/{s}/history` serves the recent points with their
verdicts (value, expected, band, state) within the service's history budget.
A failing Android key against a healthy key of the same title."""),
("code", """fail_dev = by_device.index[0]
failing = points[points["device"] == fail_dev].iloc[0]["series"]
title = labels.loc[failing, "title"]
healthy = fleet[(fleet["title"] == title) & (fleet["device"] != fail_dev)].iloc[0]["series"]
fig, axes = plt.subplots(2, 1, figsize=(13, 6), sharex=True)
for ax, s in zip(axes, [failing, healthy]):
    h = d.history_frame(s)
    h = h[h["timestamp"] > now - pd.Timedelta(days=2)]
    judged = h[h["state"] != "learning"]
    ax.fill_between(judged["timestamp"], judged["lower"], judged["upper"], alpha=0.25, label="band")
    ax.plot(judged["timestamp"], judged["expected"], lw=0.8, ls="--", label="expected")
    ax.plot(h["timestamp"], h["value"], lw=0.8, color="black", label="value")
    an = h[h["state"] == "anomalous"]
    ax.scatter(an["timestamp"], an["value"], color="red", s=18, zorder=3, label="anomalous")
    lo, hi = h["value"].min(), h["value"].max()
    ax.set_ylim(lo - 0.3 * (hi - lo), hi + 0.3 * (hi - lo))
    ax.set_title(s, fontsize=9)
axes[0].legend(loc="upper left", fontsize=8)
fig.tight_layout()
fig.savefig(os.environ.get("PLOT_PATH", "demo_bands.png"), dpi=80)
print("failing:", failing, "healthy:", healthy)"""),
("markdown", """## 3. Peer groups: the server unlike its cluster

The demo's rule `edge-cpu` groups `server_cpu` by cluster; DBSCAN over the
members' recent windows flags the member outside the main cluster and says
why."""),
("code", """rule = d.peer_rules()[0]["name"]
groups = d.peer_outliers(rule)
rows = [dict(group=g["group"], **m) for g in groups for m in g["members"]]
members = pd.DataFrame(rows)
out = members[members["outlier"]]
for _, m in out.iterrows():
    print(f"peer outlier: {m['member']} in {m['group']}: {m['reason']}")
g = next(g for g in groups if g["outliers"])
fig, ax = plt.subplots(figsize=(13, 3.5))
for m in g["members"]:
    h = d.history_frame(m["series"], since=g["window_start"])
    ax.plot(h["timestamp"], h["value"], color="red" if m["outlier"] else "grey",
            lw=2 if m["outlier"] else 0.7, label=m["member"] if m["outlier"] else None)
ax.set_title(g["group"] + ": members over the judged window"); ax.legend(); fig.tight_layout()
out[["group", "member", "distance", "reason"]]"""),
("markdown", """## 4. The timeline with change events

Anomalies opened per 10 minutes over the last six hours, with the change
events the service holds (a deploy) drawn as vertical lines: the deploy of
the Android player lands just before the Android play starts collapse."""),
("code", """six = d.anomalies_frame(since=int((now - pd.Timedelta(hours=6)).timestamp()))
counts = six.set_index("started_at").resample("10min")["id"].count()
fig, ax = plt.subplots(figsize=(13, 3))
ax.bar(counts.index, counts.values, width=0.006, label="anomalies opened")
changes = d.change_events(since=int((now - pd.Timedelta(hours=6)).timestamp()))
for e in changes:
    t = pd.Timestamp(e.get("at") or e.get("timestamp"))
    ax.axvline(t, color="purple", lw=1.5)
    ax.text(t, ax.get_ylim()[1] * 0.9, " " + str(e.get("title") or e.get("kind")), color="purple", fontsize=8)
ax.set_title("anomalies per 10 minutes" + (" and change events" if changes else " (this service keeps no change events)"))
fig.tight_layout()
print(f"{len(six)} anomalies in 6 hours, {len(changes)} change events")"""),
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
with open("demo.ipynb", "w") as f:
    json.dump(nb, f, indent=1)
    f.write("\n")
