"""A small client for the detector's REST API, for notebooks and scripts.

Standard library only; the *_frame helpers return pandas DataFrames when
pandas is installed. Every call raises DetectorError with the service's
error code and message when the service answers with an error.

    from detector_client import Detector
    d = Detector("http://127.0.0.1:8080")
    d.push([{"series": 'cpu{host="a"}', "timestamp": 1767571200, "value": 0.4}])
    d.detect('cpu{host="a"}')
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request


class DetectorError(Exception):
    """An error answer of the service: HTTP status, code and message."""

    def __init__(self, status, code, message, index=None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.index = status, code, message, index


class Detector:
    def __init__(self, base=None, token=None, timeout=60):
        self.base = (base or os.environ.get("DETECTOR_URL", "http://127.0.0.1:8080")).rstrip("/")
        self.token = token or os.environ.get("DETECTOR_TOKEN")
        self.timeout = timeout

    # -- transport -------------------------------------------------------
    def _call(self, method, path, params=None, body=None):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            try:
                err = json.loads(e.read())["error"]
            except Exception:
                raise DetectorError(e.code, "http_error", str(e)) from None
            raise DetectorError(e.code, err.get("code"), err.get("message"), err.get("index")) from None

    def _pages(self, path, key, params):
        params = dict(params)
        while True:
            page = self._call("GET", path, params)
            yield from page[key]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    # -- API ---------------------------------------------------------------
    def health(self):
        return self._call("GET", "/healthz")

    def push(self, points, batch=10000):
        """Ingests points (dicts with series, timestamp, value) in batches.
        Returns the summed counts, the item errors (indices into points) and
        the anomalous verdicts."""
        total = {"accepted": 0, "rejected": 0, "errors": [], "anomalies": []}
        points = list(points)
        for start in range(0, len(points), batch):
            r = self._call("POST", "/api/v1/points", body={"points": points[start:start + batch]})
            total["accepted"] += r["accepted"]
            total["rejected"] += r["rejected"]
            total["errors"] += [dict(e, index=e["index"] + start) for e in r["errors"]]
            total["anomalies"] += r["anomalies"]
        return total

    def detect(self, series):
        """The latest verdict of a series."""
        return self._call("GET", "/api/v1/detect", {"series": series})

    def what_if(self, series, points):
        """Verdicts for points against the learned baseline, which stays unchanged."""
        return self._call("POST", "/api/v1/detect", body={"series": series, "points": points})["verdicts"]

    def batch(self, points, period=None):
        """Stateless detection over points (dicts with timestamp and value)."""
        body = {"points": points}
        if period:
            body["period"] = period
        return self._call("POST", "/api/v1/detect/batch", body=body)

    def series(self, match=None, limit=1000):
        """Every live series matching a Prometheus selector, with its summary."""
        return list(self._pages("/api/v1/series", "series", {"match": match, "limit": limit}))

    def baseline(self, series):
        """Everything the service learned about one series."""
        return self._call("GET", "/api/v1/series/" + urllib.parse.quote(series, safe=""))

    def anomalies(self, series=None, since=None, until=None, state=None, limit=1000):
        """The anomaly timeline, newest first, all pages."""
        return list(self._pages("/api/v1/anomalies", "anomalies",
                                {"series": series, "since": since, "until": until, "state": state, "limit": limit}))

    def history(self, series, since=None, until=None):
        """The recent points and verdicts kept for one series, oldest first
        (the service records the series from now on)."""
        return self._call("GET", "/api/v1/series/" + urllib.parse.quote(series, safe="") + "/history",
                          params={"since": since, "until": until})["points"]

    def peer_rules(self):
        return self._call("GET", "/api/v1/peers/rules")["rules"]

    def peer_outliers(self, rule, group=None):
        """The latest judgement of each group of a peer rule."""
        return self._call("GET", "/api/v1/peers/outliers", params={"rule": rule, "group": group})["groups"]

    def change_events(self, **params):
        """Change events (deploys), when the service has GET /api/v1/events; else []."""
        doc = self._call("GET", "/api/v1/openapi.json")
        if "get" not in doc.get("paths", {}).get("/api/v1/events", {}):
            return []
        ans = self._call("GET", "/api/v1/events", params=params)
        if isinstance(ans, list):
            return ans
        return next((v for v in ans.values() if isinstance(v, list)), [])

    # -- pandas helpers ----------------------------------------------------
    def history_frame(self, series, **kw):
        import pandas as pd
        df = pd.DataFrame(self.history(series, **kw))
        if "timestamp" in df:
            df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
        return df

    def series_frame(self, match=None):
        """Live series with their labels as columns."""
        import pandas as pd, re
        rows = []
        for s in self.series(match=match):
            row = dict(s)
            for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', s["series"]):
                row[k] = v
            rows.append(row)
        return pd.DataFrame(rows)

    def anomalies_frame(self, **kw):
        import pandas as pd
        df = pd.DataFrame(self.anomalies(**kw))
        for col in ("started_at", "ended_at", "peak_at"):
            if col in df:
                df[col] = pd.to_datetime(df[col], utc=True)
        return df

    def verdicts_frame(self, verdicts):
        import pandas as pd
        df = pd.DataFrame(verdicts)
        if "timestamp" in df:
            df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
        return df
