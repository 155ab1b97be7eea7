"""DataValidation: a quality report of the run's bronze data, and drift against the last
published run (population stability index per feature)."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engagement.schema import COLUMNS, ID_COLUMN, ColumnType, Pii, Role

PSI_BINS = 10
PSI_WARN, PSI_ALERT = 0.1, 0.25  # the usual reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted


class ValidationFailed(Exception):
    """The data must not go on to training."""


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


def population_stability(current: np.ndarray, baseline: np.ndarray) -> float:
    """PSI over the baseline's deciles (numeric) — sum((a - e) * ln(a / e))."""
    current, baseline = current[~np.isnan(current)], baseline[~np.isnan(baseline)]
    if len(current) == 0 or len(baseline) == 0:
        return 0.0
    edges = np.unique(np.quantile(baseline, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, baseline, side="right"), minlength=len(edges) + 1) / len(baseline)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    return _psi(actual, expected)


def categorical_stability(current: list, baseline: list) -> float:
    levels = sorted(set(baseline) | set(current), key=str)
    expected = np.array([baseline.count(v) for v in levels]) / max(len(baseline), 1)
    actual = np.array([current.count(v) for v in levels]) / max(len(current), 1)
    return _psi(actual, expected)


def _psi(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.clip(actual, 1e-6, None), np.clip(expected, 1e-6, None)
    return float(((actual - expected) * np.log(actual / expected)).sum())


def drift_report(current: pa.Table, baseline: pa.Table | None, baseline_run: str | None) -> dict:
    if baseline is None:
        return {"baseline_run": None, "note": "no published run to compare with (first run)", "features": {}}
    features = {}
    for column in COLUMNS:
        if column.role is not Role.FEATURE:
            continue
        if column.type is ColumnType.STRING:
            psi = categorical_stability(current[column.name].to_pylist(), baseline[column.name].to_pylist())
        else:
            psi = population_stability(_floats(current[column.name]), _floats(baseline[column.name]))
        features[column.name] = {"psi": round(psi, 5),
                                 "status": "shifted" if psi > PSI_ALERT else "moderate" if psi > PSI_WARN else "stable"}
    shifted = sorted(name for name, f in features.items() if f["status"] == "shifted")
    return {"baseline_run": baseline_run, "features": features, "shifted": shifted,
            "max_psi": max((f["psi"] for f in features.values()), default=0.0)}


def _floats(values: pa.ChunkedArray) -> np.ndarray:
    return values.cast(pa.float64()).fill_null(float("nan")).to_numpy()


def validate(current: pa.Table, baseline: pa.Table | None, *, baseline_run: str | None, min_rows: int) -> dict:
    report = {"quality": quality_report(current, min_rows=min_rows),
              "drift": drift_report(current, baseline, baseline_run)}
    report["passed"] = not report["quality"]["problems"]
    return report
