"""DataValidation: a quality report of the run's bronze data, and drift against the published
run's feature profile (population stability index per feature)."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engagement.schema import COLUMNS, ID_COLUMN, ColumnType, Pii, Role

PSI_BINS = 10
PSI_WARN, PSI_ALERT = 0.1, 0.25  # the usual reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted


def quality_report(table: pa.Table, *, min_rows: int) -> dict:
    columns = {}
    for column in COLUMNS:
        name = column.token_name if column.pii is not Pii.NONE else column.name
        values = table[name]
        entry = {"nulls": values.null_count, "null_share": round(values.null_count / max(table.num_rows, 1), 5)}
        if column.minimum is not None and column.type in (ColumnType.INT, ColumnType.DOUBLE):
            present = pc.drop_null(values)
            entry["min"], entry["max"] = pc.min(present).as_py(), pc.max(present).as_py()
            entry["out_of_range"] = int(pc.sum(pc.or_(pc.less(present, column.minimum),
                                                      pc.greater(present, column.maximum))).as_py() or 0)
        if column.allowed is not None:
            entry["not_allowed"] = int(pc.sum(pc.invert(pc.is_in(pc.drop_null(values),
                                                                  value_set=pa.array(column.allowed)))).as_py() or 0)
        columns[name] = entry
    duplicates = table.num_rows - pc.count_distinct(table[ID_COLUMN]).as_py()
    problems = []
    if table.num_rows < min_rows:
        problems.append(f"{table.num_rows} rows, fewer than the {min_rows} needed")
    if duplicates:
        problems.append(f"{duplicates} duplicate {ID_COLUMN} values")
    for name, entry in columns.items():
        if entry.get("out_of_range") or entry.get("not_allowed"):
            problems.append(f"{name}: values outside the contract")
        spec = next((c for c in COLUMNS if name in (c.name, c.token_name)), None)
        if spec is not None and not spec.nullable and entry["nulls"]:
            problems.append(f"{name}: {entry['nulls']} empty values in a required column")
    return {"rows": table.num_rows, "duplicate_ids": duplicates, "columns": columns, "problems": problems}


def feature_profile(table: pa.Table) -> dict:
    """What drift is measured against: per feature, the decile edges and the share of rows in each
    bin (numbers), or the share of each level (categories). A few KB, kept with the run's results,
    so a later run needs neither this run's rows nor a bucket that expires."""
    features = {}
    for column in COLUMNS:
        if column.role is not Role.FEATURE:
            continue
        if column.type is ColumnType.STRING:
            levels = pc.value_counts(pc.drop_null(table[column.name]).combine_chunks())
            total = max(sum(levels.field("counts").to_pylist()), 1)
            features[column.name] = {"levels": {str(v): c / total for v, c in zip(
                levels.field("values").to_pylist(), levels.field("counts").to_pylist())}}
        else:
            values = _floats(table[column.name])
            values = values[~np.isnan(values)]
            edges = np.unique(np.quantile(values, np.linspace(0, 1, PSI_BINS + 1)[1:-1])) if len(values) else []
            features[column.name] = {"edges": [float(e) for e in edges],
                                     "shares": _bin_shares(values, np.asarray(edges)).tolist()}
    return {"rows": table.num_rows, "features": features}


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def stability(current: pa.ChunkedArray, baseline: dict) -> float:
    """PSI of the current values against one feature of a baseline profile: sum((a - e) * ln(a / e))."""
    if "levels" in baseline:
        present = pc.drop_null(current).combine_chunks()
        counts = pc.value_counts(present)
        shares = dict(zip(map(str, counts.field("values").to_pylist()),
                          (c / max(len(present), 1) for c in counts.field("counts").to_pylist())))
        levels = sorted(set(baseline["levels"]) | set(shares))
        return _psi(np.array([shares.get(v, 0.0) for v in levels]),
                    np.array([baseline["levels"].get(v, 0.0) for v in levels]))
    values = _floats(current)
    values = values[~np.isnan(values)]
    if len(values) == 0 or not baseline["shares"]:
        return 0.0
    return _psi(_bin_shares(values, np.asarray(baseline["edges"])), np.asarray(baseline["shares"]))


def _psi(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.clip(actual, 1e-6, None), np.clip(expected, 1e-6, None)
    return float(((actual - expected) * np.log(actual / expected)).sum())


def drift_report(current: pa.Table, baseline: dict | None, baseline_run: str | None, note: str | None = None) -> dict:
    if baseline is None:
        return {"baseline_run": baseline_run, "features": {},
                "note": note or "no published run to compare with (first run)"}
    features = {}
    for name, profile in baseline["features"].items():
        psi = stability(current[name], profile)
        features[name] = {"psi": round(psi, 5),
                          "status": "shifted" if psi > PSI_ALERT else "moderate" if psi > PSI_WARN else "stable"}
    shifted = sorted(name for name, f in features.items() if f["status"] == "shifted")
    return {"baseline_run": baseline_run, "features": features, "shifted": shifted,
            "max_psi": max((f["psi"] for f in features.values()), default=0.0)}


def _floats(values: pa.ChunkedArray) -> np.ndarray:
    return values.cast(pa.float64()).fill_null(float("nan")).to_numpy()


def validate(current: pa.Table, baseline: dict | None, *, baseline_run: str | None, min_rows: int,
             baseline_note: str | None = None) -> dict:
    report = {"quality": quality_report(current, min_rows=min_rows),
              "drift": drift_report(current, baseline, baseline_run, baseline_note)}
    report["passed"] = not report["quality"]["problems"]
    return report
