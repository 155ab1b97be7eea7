"""The generator: determinism, the contract, and the seed's distribution rules on a sample."""

import json

import numpy as np
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from datagen.__main__ import main
from datagen.ceilings import roc_auc
from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset
from engagement.schema import BY_NAME, COLUMN_NAMES, COLUMNS, CONTENT_CATEGORIES, ColumnType

ROWS = 40_000


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("customers")
    manifest = write_dataset(GeneratorConfig(rows=ROWS, seed=7), out, progress=None)
    return out, manifest, pq.read_table(out / "customers.parquet")


def column(table, name) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False)


def test_cli_writes_the_four_files(tmp_path, capsys):
    assert main(["--rows", "500", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "anomalous_ids.txt", "customers.csv", "customers.parquet", "manifest.json"
    ]
    assert "wrote 500 customers" in capsys.readouterr().out


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--rows", "0", "--out", str(tmp_path)])
    assert "rows must be at least 1" in capsys.readouterr().err


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = write_dataset(GeneratorConfig(rows=3_000, seed=11), tmp_path / "a", progress=None)
    again = write_dataset(GeneratorConfig(rows=3_000, seed=11), tmp_path / "b", progress=None)
    other = write_dataset(GeneratorConfig(rows=3_000, seed=12), tmp_path / "c", progress=None)
    assert first["files"] == again["files"]
    assert first["files"]["customers.csv"] != other["files"]["customers.csv"]
    assert (tmp_path / "a" / "customers.csv").read_bytes() == (tmp_path / "b" / "customers.csv").read_bytes()


def test_csv_and_parquet_hold_the_same_rows_in_contract_order(dataset):
    out, _, table = dataset
    assert table.column_names == list(COLUMN_NAMES)
    csv = pacsv.read_csv(out / "customers.csv", convert_options=pacsv.ConvertOptions(column_types=table.schema))
    assert csv.num_rows == ROWS
    assert csv.equals(table)


def test_every_value_meets_the_contract(dataset):
    _, _, table = dataset
    for spec in COLUMNS:
        values = table[spec.name]
        assert spec.nullable or values.null_count == 0, spec.name
        present = pc.drop_null(values)
        if spec.minimum is not None:
            assert pc.min(present).as_py() >= spec.minimum, spec.name
            assert pc.max(present).as_py() <= spec.maximum, spec.name
        if spec.allowed is not None:
            assert set(present.to_pylist()) <= set(spec.allowed), spec.name


def test_customer_ids_are_unique(dataset):
    _, _, table = dataset
    assert pc.count_distinct(table["customer_id"]).as_py() == ROWS


def test_seventy_percent_free_thirty_percent_premium(dataset):
    premium = column(dataset[2], "account_type") == "premium"
    assert premium.mean() == pytest.approx(0.30, abs=0.01)


def test_age_is_normal_32_10_truncated_to_18_65(dataset):
    age = column(dataset[2], "age")
    assert age.min() >= 18 and age.max() <= 65
    # N(32, 10) truncated at 18 and 65 has mean 33.6 and sd 8.6.
    assert age.mean() == pytest.approx(33.6, abs=0.3)
    assert age.std() == pytest.approx(8.6, abs=0.3)
    assert np.median(age) == pytest.approx(33, abs=1)


def test_total_connections_follow_a_power_law(dataset):
    connections = np.sort(column(dataset[2], "total_connections"))[::-1]
    top_one_percent = connections[: len(connections) // 100].sum() / connections.sum()
    assert top_one_percent > 0.15  # a few super-connectors hold a large share
    assert connections[0] > 200 * np.median(connections)
    # Hill estimator of the tail index over the top 2%: heavy-tailed (finite, small).
    tail = connections[: len(connections) // 50].astype(float)
    alpha = 1 / np.mean(np.log(tail[:-1] / tail[-1]))
    assert 0.8 < alpha < 2.0


def test_all_twelve_content_categories_appear(dataset):
    assert set(column(dataset[2], "content_category_primary")) == set(CONTENT_CATEGORIES)
    assert len(CONTENT_CATEGORIES) == 12


def test_network_centrality_comes_from_the_graph(dataset):
    table = dataset[2]
    centrality = column(table, "network_centrality")
    assert centrality.min() >= 0 and centrality.max() == 1.0
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    spearman = np.corrcoef(ranks(centrality), ranks(column(table, "total_connections")))[0, 1]
    assert spearman > 0.5


def test_realistic_correlations_among_people(dataset):
    out, _, table = dataset
    people = ~np.isin(column(table, "customer_id"), (out / "anomalous_ids.txt").read_text().split())
    engagement = column(table, "engagement_score")[people]
    premium = (column(table, "account_type") == "premium")[people]
    assert engagement[premium].mean() - engagement[~premium].mean() > 0.05
    matches, logins = column(table, "match_success_rate")[people], column(table, "avg_daily_logins")[people]
    assert np.corrcoef(matches, logins)[0, 1] > 0.1
    assert np.corrcoef(logins, engagement)[0, 1] > 0.3
    recency, churn = column(table, "days_since_last_login")[people], column(table, "churn_30_day")[people]
    assert np.corrcoef(recency, churn)[0, 1] > 0.1


def test_churn_risk_score_is_a_noisy_heuristic_not_the_label(dataset):
    _, manifest, table = dataset
    label = column(table, "churn_30_day")
    heuristic_auc = roc_auc(column(table, "churn_risk_score"), label)
    assert 0.55 < heuristic_auc < manifest["ceilings"]["churn_roc_auc_ceiling"] - 0.05


def test_anomalous_ids_are_in_a_side_file_and_not_in_the_data(dataset):
    out, manifest, table = dataset
    ids = (out / "anomalous_ids.txt").read_text().split()
    assert len(ids) == manifest["anomalous_rows"] == pytest.approx(0.01 * ROWS, rel=0.2)
    assert set(ids) <= set(column(table, "customer_id"))
    assert not {"is_anomaly", "anomaly", "bot"} & set(table.column_names)
    bots = np.isin(column(table, "customer_id"), ids)
    assert column(table, "num_messages_sent_per_day")[bots].min() > column(table, "num_messages_sent_per_day")[
        ~bots
    ].mean() * 5


def test_manifest_states_the_achievable_ceilings(dataset):
    out, manifest, _ = dataset
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["rows"] == ROWS and manifest["seed"] == 7
    ceilings = manifest["ceilings"]
    assert 0.8 < ceilings["engagement_r2_ceiling"] < 0.97
    assert 0.7 < ceilings["churn_roc_auc_ceiling"] < 0.95
    assert ceilings["ltv_p10_p90_oracle_coverage"] == pytest.approx(0.80, abs=0.015)
    assert ceilings["content_top3_accuracy_ceiling"] > ceilings["content_top1_accuracy_ceiling"] > 1 / 12


def test_engagement_ceiling_is_what_the_noise_allows(dataset):
    """R² ceiling = 1 - noise variance / target variance, up to clipping at 0 and 1."""
    _, manifest, table = dataset
    variance = column(table, "engagement_score").var()
    expected = 1 - manifest["noise"]["engagement_sd"] ** 2 / variance
    assert manifest["ceilings"]["engagement_r2_ceiling"] == pytest.approx(expected, abs=0.02)


def test_pii_columns_look_real(dataset):
    table = dataset[2]
    emails = column(table, "email")
    assert all("@" in e and " " not in e for e in emails[:1000])
    assert len(set(emails)) == ROWS
    assert all(len(name.split()) >= 2 for name in column(table, "full_name")[:1000])
    assert BY_NAME["signup_date"].type is ColumnType.DATE
