"""DataValidation: a quality report of the run's bronze data, and drift against the published
run's feature profile (population stability index per feature).

Both come from one mergeable profile: counts, missing values, minima and maxima, level counts and
fixed-bin histograms, computed a batch (or a shard) at a time and added up (`merge`), so memory
stays flat in the number of customers and the merged profile equals one computed in a single pass
(tests/unit/test_validation.py). A numeric feature's histogram has PROFILE_BINS bins on a log
scale between its contract bounds (heavy tails such as total_connections keep their detail); drift
groups the baseline's bins into its deciles and compares the shares in each group.
"""

import hashlib
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engagement.schema import COLUMNS, ID_COLUMN, ColumnType, Pii, Role

PROFILE_BINS = 1_000
PSI_GROUPS = 10  # the baseline's deciles
PSI_WARN, PSI_ALERT = 0.1, 0.25  # the usual reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted
NUMERIC = (ColumnType.INT, ColumnType.DOUBLE)
ID_PREFIX = "CUST-"  # the contract's id form (CUST-nnnnnnnn): ids are kept as integers to count duplicates
# Duplicates are counted one hash bucket of ids at a time, across every part: the merge holds
# 1/ID_BUCKETS of the run's ids, never all of them.
ID_BUCKET_BITS = 6
ID_BUCKETS = 1 << ID_BUCKET_BITS
ID_BYTES = 8  # a stored id: little-endian int64
ID_READERS = 16


def _stored_name(column) -> str:
    return column.token_name if column.pii is not Pii.NONE else column.name


FEATURES = [c for c in COLUMNS if c.role is Role.FEATURE]


# --- one batch's profile, and the merge of two ---------------------------------------------------

def profile_batch(batch: pa.Table | pa.RecordBatch) -> dict:
    """The mergeable profile of some rows: plain counts, plus the ids (as integers, sorted by
    bucket) for duplicates."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    columns = {}
    for column in COLUMNS:
        values = table[_stored_name(column)]
        entry = {"nulls": values.null_count}
        if column.minimum is not None and column.type in NUMERIC:
            present = pc.drop_null(values)
            entry["min"], entry["max"] = pc.min(present).as_py(), pc.max(present).as_py()
            entry["out_of_range"] = int(pc.sum(pc.or_(pc.less(present, column.minimum),
                                                      pc.greater(present, column.maximum))).as_py() or 0)
        if column.allowed is not None:
            entry["not_allowed"] = int(pc.sum(pc.invert(pc.is_in(pc.drop_null(values),
                                                                  value_set=pa.array(column.allowed)))).as_py() or 0)
        columns[_stored_name(column)] = entry
    return {"rows": table.num_rows, "columns": columns, "ids": [StoredIds.of(_id_keys(table[ID_COLUMN]))],
            "features": {column.name: _feature_counts(column, table[column.name]) for column in FEATURES}}


def _id_keys(ids: pa.ChunkedArray) -> np.ndarray:
    """Each id as an integer: its digits for the contract's form, else a 64-bit hash of the text
    offset past every such number (ingest refuses other forms, so this is a fallback)."""
    text = pc.drop_null(ids).combine_chunks()
    digits = pc.utf8_slice_codeunits(text, len(ID_PREFIX))
    regular = pc.and_(pc.starts_with(text, ID_PREFIX), pc.utf8_is_digit(digits))
    keys = np.empty(len(text), dtype=np.int64)
    mask = regular.to_numpy(zero_copy_only=False)
    if mask.any():
        keys[mask] = pc.cast(pc.filter(digits, regular), pa.int64()).to_numpy()
    for i in np.flatnonzero(~mask):  # negative: never a contract id's number
        digest = hashlib.blake2b(text[i].as_py().encode(), digest_size=8).digest()
        keys[i] = -1 - (int.from_bytes(digest, "big") & (2**62 - 1))
    return keys


def _feature_counts(column, values: pa.ChunkedArray) -> dict:
    if column.type is ColumnType.STRING:
        counts = pc.value_counts(pc.drop_null(values).combine_chunks())
        return {"levels": dict(zip(map(str, counts.field("values").to_pylist()), counts.field("counts").to_pylist()))}
    present = values.cast(pa.float64()).fill_null(math.nan).to_numpy()
    present = present[~np.isnan(present)]
    return {"bins": np.bincount(_bin(present, column.minimum, column.maximum), minlength=PROFILE_BINS)}


def _bin(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Bins on log1p(value - low), PROFILE_BINS of them up to log1p(high - low)."""
    scaled = np.log1p(np.clip(values, low, high) - low) / math.log1p(high - low)
    return np.minimum((scaled * PROFILE_BINS).astype(np.int64), PROFILE_BINS - 1)


def _bin_edge(index: float, low: float, high: float) -> float:
    return low + math.expm1(index / PROFILE_BINS * math.log1p(high - low))


def merge(a: dict | None, b: dict) -> dict:
    """Two profiles as one (a may be None: the start of a fold)."""
    if a is None:
        return b
    columns = {}
    for name, left in a["columns"].items():
        right, entry = b["columns"][name], {"nulls": a["columns"][name]["nulls"] + b["columns"][name]["nulls"]}
        for key in ("out_of_range", "not_allowed"):
            if key in left:
                entry[key] = left[key] + right[key]
        if "min" in left:
            entry["min"] = _extreme(min, left["min"], right["min"])
            entry["max"] = _extreme(max, left["max"], right["max"])
        columns[name] = entry
    features = {}
    for name, left in a["features"].items():
        right = b["features"][name]
        if "levels" in left:
            levels = dict(left["levels"])
            for level, count in right["levels"].items():
                levels[level] = levels.get(level, 0) + count
            features[name] = {"levels": levels}
        else:
            features[name] = {"bins": left["bins"] + right["bins"]}
    # ids stay a list of pieces until they are counted or stored: concatenating at every merge
    # would copy them once per batch
    return {"rows": a["rows"] + b["rows"], "columns": columns, "ids": a["ids"] + b["ids"], "features": features}


@dataclass(frozen=True)
class StoredIds:
    """Some ids sorted by bucket, as a part stores them: bucket b is ids offsets[b] to
    offsets[b + 1], fetched when it is needed by `read(first_byte, end_byte)`."""

    offsets: list[int]
    read: Callable[[int, int], bytes]

    @classmethod
    def of(cls, keys: np.ndarray) -> "StoredIds":
        """Ids held in memory (8 bytes each), in the stored order."""
        buckets = _bucket_of(keys)
        order = np.argsort(buckets, kind="stable")
        offsets = np.searchsorted(buckets[order], np.arange(ID_BUCKETS + 1)).tolist()
        stored = keys[order].astype("<i8").tobytes()
        return cls(offsets, lambda low, high: stored[low:high])

    def __len__(self) -> int:
        return self.offsets[-1]

    def bucket_bytes(self, index: int) -> bytes:
        low, high = self.offsets[index], self.offsets[index + 1]
        return self.read(low * ID_BYTES, high * ID_BYTES) if high > low else b""

    def bucket(self, index: int) -> np.ndarray:
        return np.frombuffer(self.bucket_bytes(index), dtype="<i8")


def _bucket_of(keys: np.ndarray) -> np.ndarray:
    """A multiplicative hash's top bits: ids that are sequential numbers still spread evenly."""
    mixed = keys.astype(np.int64).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (mixed >> np.uint64(64 - ID_BUCKET_BITS)).astype(np.int64)


def to_parts(profile: dict) -> tuple[dict, bytearray]:
    """A profile as JSON-ready counts and its ids as bytes sorted by bucket (kept apart: 8 bytes a
    customer); the counts say where each bucket starts."""
    stored, offsets, position = bytearray(sum(map(len, profile["ids"])) * ID_BYTES), [0], 0
    for bucket in range(ID_BUCKETS):
        for part in profile["ids"]:
            chunk = part.bucket_bytes(bucket)
            stored[position:position + len(chunk)] = chunk
            position += len(chunk)
        offsets.append(position // ID_BYTES)
    features = {name: ({"bins": counts["bins"].tolist()} if "bins" in counts else counts)
                for name, counts in profile["features"].items()}
    return {"rows": profile["rows"], "columns": profile["columns"], "features": features, "id_offsets": offsets}, stored


def from_parts(counts: dict, read_ids: Callable[[int, int], bytes]) -> dict:
    """A part's profile from its counts; its ids stay where they are stored until they are counted."""
    features = {name: ({"bins": np.asarray(c["bins"], dtype=np.int64)} if "bins" in c else c)
                for name, c in counts["features"].items()}
    return {"rows": counts["rows"], "columns": counts["columns"], "features": features,
            "ids": [StoredIds(counts["id_offsets"], read_ids)]}


def duplicate_ids(profile: dict) -> int:
    """Ids seen more than once, counted a bucket at a time over every part."""
    duplicates = 0
    with ThreadPoolExecutor(max_workers=ID_READERS) as readers:  # stored buckets are fetched side by side
        for bucket in range(ID_BUCKETS):
            parts = readers.map(lambda part: part.bucket(bucket), profile["ids"])
            ids = np.concatenate([np.empty(0, dtype="<i8"), *parts])
            duplicates += len(ids) - len(np.unique(ids))
    return duplicates


def _extreme(pick, left, right):
    present = [value for value in (left, right) if value is not None]
    return pick(present) if present else None


# --- what a profile says ---------------------------------------------------------------------------

def quality_report(profile: dict, *, min_rows: int) -> dict:
    rows = profile["rows"]
    columns = {name: {"nulls": entry["nulls"], "null_share": round(entry["nulls"] / max(rows, 1), 5),
                      **{k: v for k, v in entry.items() if k != "nulls"}} for name, entry in profile["columns"].items()}
    duplicates = duplicate_ids(profile)
    problems = []
    if rows < min_rows:
        problems.append(f"{rows} rows, fewer than the {min_rows} needed")
    if duplicates:
        problems.append(f"{duplicates} duplicate {ID_COLUMN} values")
    for column in COLUMNS:
        entry = columns[_stored_name(column)]
        if entry.get("out_of_range") or entry.get("not_allowed"):
            problems.append(f"{_stored_name(column)}: values outside the contract")
        if not column.nullable and entry["nulls"]:
            problems.append(f"{_stored_name(column)}: {entry['nulls']} empty values in a required column")
    return {"rows": rows, "duplicate_ids": duplicates, "columns": columns, "problems": problems}


def feature_profile(profile: dict) -> dict:
    """What drift is measured against, kept with the run's results (a later run needs neither this
    run's rows nor a bucket that expires): per numeric feature its histogram (non-empty bins as
    [bin, count]) and its 10th / 50th / 90th percentiles read from it; per category each level's share."""
    features = {}
    for column in FEATURES:
        counts = profile["features"][column.name]
        if "levels" in counts:
            total = max(sum(counts["levels"].values()), 1)
            features[column.name] = {"levels": {level: count / total for level, count in counts["levels"].items()}}
            continue
        bins = counts["bins"]
        features[column.name] = {
            "low": column.minimum, "high": column.maximum,
            "histogram": [[int(i), int(bins[i])] for i in np.flatnonzero(bins)],
            "percentiles": {f"p{q}": _percentile(bins, q / 100, column.minimum, column.maximum) for q in (10, 50, 90)},
        }
    return {"rows": profile["rows"], "bins": PROFILE_BINS, "features": features}


def _percentile(bins: np.ndarray, share: float, low: float, high: float) -> float | None:
    """Read from the histogram, interpolated within the bin that holds it (to about a bin's width)."""
    total = bins.sum()
    if not total:
        return None
    cumulative = np.cumsum(bins)
    index = int(np.searchsorted(cumulative, share * total))
    before = cumulative[index - 1] if index else 0
    within = (share * total - before) / max(bins[index], 1)
    return round(_bin_edge(index + within, low, high), 6)


def _dense(feature: dict) -> np.ndarray:
    bins = np.zeros(PROFILE_BINS, dtype=np.int64)
    for index, count in feature["histogram"]:
        bins[index] = count
    return bins


def stability(current: dict, baseline: dict) -> float:
    """PSI of one feature's current counts against the baseline profile's: sum((a - e) * ln(a / e)),
    over the baseline's deciles (numbers) or the levels of either (categories)."""
    if "levels" in baseline:
        total = max(sum(current["levels"].values()), 1)
        shares = {level: count / total for level, count in current["levels"].items()}
        levels = sorted(set(baseline["levels"]) | set(shares))
        return _psi(np.array([shares.get(v, 0.0) for v in levels]),
                    np.array([baseline["levels"].get(v, 0.0) for v in levels]))
    expected, actual = _dense(baseline), current["bins"]
    if not expected.sum() or not actual.sum():
        return 0.0
    below = np.concatenate([[0], np.cumsum(expected)[:-1]]) / expected.sum()  # baseline share below each bin
    group = np.searchsorted(np.arange(1, PSI_GROUPS) / PSI_GROUPS, below + 1e-12, side="right")
    expected_shares = np.bincount(group, weights=expected, minlength=PSI_GROUPS) / expected.sum()
    actual_shares = np.bincount(group, weights=actual, minlength=PSI_GROUPS) / actual.sum()
    used = (expected_shares > 0) | (actual_shares > 0)
    return _psi(actual_shares[used], expected_shares[used])


def _psi(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.clip(actual, 1e-6, None), np.clip(expected, 1e-6, None)
    return float(((actual - expected) * np.log(actual / expected)).sum())


def drift_report(current: dict, baseline: dict | None, baseline_run: str | None, note: str | None = None) -> dict:
    if baseline is None:
        return {"baseline_run": baseline_run, "features": {},
                "note": note or "no published run to compare with (first run)"}
    if any("edges" in feature for feature in baseline["features"].values()):
        return {"baseline_run": baseline_run, "features": {},
                "note": "drift not measured: the published run's profile predates fixed-bin histograms; "
                        "the next run is measured against this one"}
    features = {}
    for name, profile in baseline["features"].items():
        psi = stability(current["features"][name], profile)
        features[name] = {"psi": round(psi, 5),
                          "status": "shifted" if psi > PSI_ALERT else "moderate" if psi > PSI_WARN else "stable"}
    shifted = sorted(name for name, f in features.items() if f["status"] == "shifted")
    return {"baseline_run": baseline_run, "features": features, "shifted": shifted,
            "max_psi": max((f["psi"] for f in features.values()), default=0.0)}


def validate(profile: dict, baseline: dict | None, *, baseline_run: str | None, min_rows: int,
             baseline_note: str | None = None) -> dict:
    report = {"quality": quality_report(profile, min_rows=min_rows),
              "drift": drift_report(profile, baseline, baseline_run, baseline_note)}
    report["passed"] = not report["quality"]["problems"]
    return report
