"""Model registry: <root>/<model>/<version>/{model file, metadata.json}.

metadata.json holds everything needed to use and to audit the model: version, trained_at,
algorithm, params, metrics, fairness, the fitted feature state (feature names included), the
training data URIs, durations and inference settings (thresholds, class names, personas).
"""

from datetime import UTC, datetime

import engagement_ml.models as models
from engagement_ml import storage
from engagement_ml.features import FeatureState

MODEL_NAMES = ("engagement", "churn", "ltv", "content", "anomaly", "segments")


def save(root: str, version: str, fitted: models.Fitted, *, feature_state: FeatureState, data: dict,
         fairness: dict | None = None, explanations: dict | None = None) -> str:
    filename, payload = models.to_bytes(fitted.model)
    folder = storage.join(root, fitted.name, version)
    storage.write_bytes(storage.join(folder, filename), payload)
    storage.write_json(storage.join(folder, "metadata.json"), {
        "model": fitted.name,
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "algorithm": fitted.algorithm,
        "model_file": filename,
        "params": fitted.params,
        "metrics": fitted.metrics,
        "fairness": fairness,
        "explanations": explanations,
        "settings": fitted.settings,
        "feature_state": feature_state.to_dict(),
        "feature_names": feature_state.feature_names,
        "data": data,
        "durations_seconds": {"fit_and_evaluate": round(fitted.seconds, 3)},
    })
    return folder


def load(root: str, name: str, version: str) -> tuple[object, dict]:
    folder = storage.join(root, name, version)
    metadata_uri = storage.join(folder, "metadata.json")
    if not storage.exists(metadata_uri):
        raise FileNotFoundError(f"model {name} version {version} not found: {metadata_uri}")
    metadata = storage.read_json(metadata_uri)
    model = models.from_bytes(metadata["model_file"], storage.read_bytes(storage.join(folder, metadata["model_file"])))
    return model, metadata
