"""Registration of evaluated runs in the MLflow model registry, with a champion gate.

Every evaluated run becomes a version of one registered model (default
`islr-sign-classifier`) from `runs:/<training run id>/model`, tagged with its run name,
architecture, test metrics, data md5, git commit, config hash, fold manifest hash,
`test_split_id` and, when given, the URI of its TFLite file.

The gate, with the aliases it maintains:

- `champion`: the model the app serves. It moves to the best new version only if that
  version beats the current champion on the configured metric (default
  `val_accuracy`: selection reads the validation split only, so the test split stays an
  unbiased report; under cross-validation, the mean over the folds) by more than
  nothing and at least `min_improvement`, both measured on the same records (split id).
  Every new version keeps its value as a `<metric>_on_<split id>` tag. When the champion
  was measured on other records, its model (`models:/<name>@champion`) is loaded and
  re-evaluated on the current evaluated fold first, and the best new version is compared
  on that same fold (under cross-validation the champion, trained on other folds,
  cannot be scored on every fold fairly); the result is kept as a tag, so the next gate
  on those records does not evaluate it again. With no champion yet, the best new
  version becomes champion.
- `challenger`: the best new version that lost this gate (the best new version itself
  when the champion stayed, otherwise the runner-up of the new versions). When a single
  new version was promoted nothing lost, and the alias is removed rather than left on a
  version that lost an older gate.
- `previous_champion`: the champion that was replaced, for a one-line rollback.

The other new versions stay registered, with the tag `gate_outcome=not_promoted` and no
alias: they keep their lineage and can still be promoted by hand. Every new version gets
a `gate_outcome` tag (`champion`, `challenger`, `not_promoted`); the decision and its
reason are logged, set as the registered model's `last_gate_decision` tag, and written
to an MLflow run by `log_decision`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from islr.data.tfrecord import TFRecordSet
from islr.evaluation.errors import RegistryError
from islr.evaluation.metrics import Evaluation, EvaluationConfig, evaluate_model
from islr.evaluation.registry_names import CHALLENGER, CHAMPION, MODEL_NAME, PREVIOUS_CHAMPION
from islr.evaluation.report import check_same_test_split

if TYPE_CHECKING:
    import keras
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)

DECISION_FILE = "promotion_decision.json"


class RegistryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str = MODEL_NAME
    # An MLflow metric name of an Evaluation (`val_accuracy`, `val_macro_f1`,
    # `test_latency_p50_ms`, ...). Rank by a validation metric: choosing by a test metric
    # biases the test score that is then reported.
    metric: str = "val_accuracy"
    greater_is_better: bool = True
    # The new version must beat the champion by at least this much (in metric units).
    min_improvement: float = Field(0.0, ge=0)
    artifact_path: str = "model"  # where the training run logged the model
    # The deployment: where a new champion's published TFLite file is copied (atomically),
    # the one path the app image serves (docker/app.Dockerfile); relative to the job's
    # output_root. None: nothing is copied.
    publish_champion: str | None = "export/model.tflite"


class PromotionDecision(BaseModel):
    """What the gate decided, and why."""

    model_name: str
    promoted: bool
    version: str  # the best new version (the one that was, or was not, promoted)
    run: str  # its run name
    metric: str
    new_value: float
    champion_version: str | None  # holder of the champion alias after (None: nobody)
    previous_champion_version: str | None = None  # holder before (None: there was none)
    champion_value: float | None = None  # the previous champion's value on this split
    champion_reevaluated: bool = False
    challenger_version: str | None = None
    test_split_id: str
    split_id: str  # the records the metric was compared on (validation, folds or test)
    registered: dict[str, str]  # run name -> new version
    reason: str
    # where the champion's TFLite file is served from (RegistryConfig.publish_champion),
    # once the registration step has published it; None: nothing published there
    published_tflite: str | None = None


def _model_uri(name: str, alias: str) -> str:
    return f"models:/{name}@{alias}"


def version_tags(evaluation: Evaluation, tflite_uri: str | None = None) -> dict[str, str]:
    """The tags a registered version carries (only the known values)."""
    tags: dict[str, str | None] = {
        "run": evaluation.run,
        "architecture": evaluation.architecture,
        "data_md5": evaluation.data_md5,
        "git_commit": evaluation.git_commit,
        "config_hash": evaluation.config_hash,
        "fold_manifest_hash": evaluation.fold_manifest_hash,
        "test_split_id": evaluation.test_split_id,
        "val_split_id": evaluation.val_split_id,
        "cv_split_id": evaluation.cv.split_id if evaluation.cv is not None else None,
        "cv_folds": (
            ",".join(map(str, evaluation.cv.folds)) if evaluation.cv is not None else None
        ),
        "fold": evaluation.fold,
        "mlflow_run_id": evaluation.mlflow_run_id,
        "tflite_uri": tflite_uri,
        **{k: repr(v) for k, v in evaluation.mlflow_metrics().items()},
    }
    return {k: str(v) for k, v in tags.items() if v is not None}


def _alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:  # no such alias (or no such registered model yet)
        return None


def load_champion(model_name: str = MODEL_NAME) -> keras.Model:
    """The champion's Keras model from the registry; it takes raw frames
    (batch, T, 543, 3) and returns 250 logits."""
    import mlflow

    import islr.models.zoo  # noqa: F401  registers the custom layers for loading

    return mlflow.keras.load_model(_model_uri(model_name, CHAMPION))


def _champion_value(
    client: MlflowClient,
    champion: ModelVersion,
    config: RegistryConfig,
    split_id: str,
    tfrecords: TFRecordSet | None,
    evaluation_config: EvaluationConfig | None,
    fold_split_id: str,
) -> tuple[float, bool, str]:
    """The champion's metric on `split_id`: from its tags when it was measured there,
    otherwise by re-evaluating its model on `tfrecords`' evaluated fold (split id
    `fold_split_id`). Returns (value, re-evaluated, the split id it is measured on)."""
    tags = champion.tags or {}
    for split in (split_id, fold_split_id):
        remembered = f"{config.metric}_on_{split}"
        if remembered in tags:
            return float(tags[remembered]), False, split
    # versions registered before `<metric>_on_<split>` tags existed
    if tags.get("test_split_id") == split_id and config.metric in tags:
        return float(tags[config.metric]), False, split_id
    if tfrecords is None:
        raise RegistryError(
            f"{config.model_name} version {champion.version} (champion) was not measured "
            f"on the new runs' records ({split_id}); pass the TFRecord set of the new runs "
            "(tfrecords=...) so the champion can be re-evaluated on it"
        )
    log.info(
        "champion %s v%s was not measured on %s; re-evaluating it on %s",
        config.model_name,
        champion.version,
        split_id,
        fold_split_id,
    )
    evaluation_config = evaluation_config or EvaluationConfig(
        latency_samples=50 if "latency" in config.metric else 0
    )
    model = load_champion(config.model_name)
    result = evaluate_model(
        model, tfrecords, run=tags.get("run", f"v{champion.version}"), config=evaluation_config
    )
    measured_on = result.evaluation.split_id_for(config.metric)
    if measured_on != fold_split_id:
        raise RegistryError(
            f"{tfrecords.directory}: its evaluated split is {measured_on}, but the "
            f"evaluations to register were measured on {fold_split_id}; pass the TFRecord "
            "set they were evaluated on"
        )
    value = result.evaluation.metric(config.metric)
    client.set_model_version_tag(
        config.model_name, champion.version, f"{config.metric}_on_{fold_split_id}", repr(value)
    )
    return value, True, fold_split_id


def _common_split(evaluations: Sequence[Evaluation], metric: str, folds: bool) -> str:
    """The records every evaluation measured `metric` on; RegistryError if they differ."""
    by_split: dict[str, list[str]] = {}
    for evaluation in evaluations:
        by_split.setdefault(evaluation.split_id_for(metric, folds), []).append(evaluation.run)
    if len(by_split) > 1:
        detail = "; ".join(f"{s}: {', '.join(r)}" for s, r in by_split.items())
        raise RegistryError(
            f"runs measured {metric} on different records ({detail}); the gate compares "
            "runs on the same split, so evaluate every run on the same TFRecord set"
        )
    return next(iter(by_split))


def _improvement(new: float, old: float, greater_is_better: bool) -> float:
    return new - old if greater_is_better else old - new


def _version_of_run(client: MlflowClient, name: str, run_id: str | None) -> str | None:
    """The version of `name` registered from training run `run_id`, if there is one."""
    if not run_id:
        return None
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return str(min(int(v.version) for v in found)) if found else None


def register_evaluations(
    evaluations: Sequence[Evaluation],
    config: RegistryConfig | None = None,
    *,
    tfrecords: TFRecordSet | None = None,
    tflite_uris: Mapping[str, str] | None = None,
    evaluation_config: EvaluationConfig | None = None,
    ineligible: Mapping[str, str] | None = None,
) -> PromotionDecision:
    """Register each evaluation's model as a new version and run the champion gate.

    `tfrecords` (the set the evaluations used) is needed only when the current champion
    was measured on another test split; `tflite_uris` maps run names to TFLite files;
    `ineligible` maps run names to why they may not become champion (a TFLite file over
    the serving budget, say): they are registered, but the gate passes them over.
    Uses MLflow's current tracking and registry URIs.
    """
    import mlflow
    from mlflow import MlflowClient

    config = config or RegistryConfig()
    if not evaluations:
        raise RegistryError("no evaluations to register")
    test_split_id = check_same_test_split(evaluations)
    names = [e.run for e in evaluations]
    if len(set(names)) != len(names):
        raise RegistryError(f"run names must be unique to register them; got {names}")
    for evaluation in evaluations:
        if not evaluation.mlflow_run_id:
            raise RegistryError(
                f"{evaluation.run}: Evaluation.mlflow_run_id is empty; evaluate the model "
                "with the MLflow run that logged it (TrainResult.mlflow_run_id)"
            )
        try:
            evaluation.metric(config.metric)
            evaluation.split_id_for(config.metric)
        except KeyError as exc:
            raise RegistryError(f"RegistryConfig.metric: {exc.args[0]}") from exc
    split_id = _common_split(evaluations, config.metric, folds=True)
    fold_split_id = _common_split(evaluations, config.metric, folds=False)
    tflite_uris = dict(tflite_uris or {})
    unknown = sorted(set(tflite_uris) - set(names))
    if unknown:
        raise RegistryError(f"tflite_uris: no evaluated run named {unknown}; runs: {names}")
    ineligible = dict(ineligible or {})
    unknown = sorted(set(ineligible) - set(names))
    if unknown:
        raise RegistryError(f"ineligible: no evaluated run named {unknown}; runs: {names}")

    client = MlflowClient()
    name = config.model_name
    champion = _alias_version(client, name, CHAMPION)  # before the new versions exist

    sign = 1.0 if config.greater_is_better else -1.0
    ranked = sorted(evaluations, key=lambda e: (-sign * e.metric(config.metric), e.run))
    # the best run that may become champion; with none eligible, the best run is only
    # reported, and nothing moves
    eligible = [e for e in ranked if e.run not in ineligible]
    best = eligible[0] if eligible else ranked[0]
    best_value = best.metric(config.metric)

    # The champion is measured before anything is registered, so that a failure there
    # leaves the registry as it was.
    champion_value, reevaluated, compared_on = None, False, split_id
    if champion is not None:
        champion_value, reevaluated, compared_on = _champion_value(
            client, champion, config, split_id, tfrecords, evaluation_config, fold_split_id
        )
    # a champion measured only on the evaluated fold is compared with the best new
    # version's value on that fold, not with its mean over folds
    best_compared = best.metric(config.metric, folds=compared_on == split_id)

    registered: dict[str, str] = {}
    for evaluation in evaluations:
        tags = version_tags(evaluation, tflite_uris.get(evaluation.run))
        tags[f"{config.metric}_on_{split_id}"] = repr(evaluation.metric(config.metric))
        if fold_split_id != split_id:
            tags[f"{config.metric}_on_{fold_split_id}"] = repr(
                evaluation.metric(config.metric, folds=False)
            )
        # A training run is one version: a pipeline re-run that reuses cached training
        # steps updates that version's tags instead of registering a duplicate.
        existing = _version_of_run(client, name, evaluation.mlflow_run_id)
        if existing is not None:
            for key, value in tags.items():
                client.set_model_version_tag(name, existing, key, value)
            registered[evaluation.run] = existing
            log.info("%s is already %s version %s", evaluation.run, name, existing)
            continue
        source = f"runs:/{evaluation.mlflow_run_id}/{config.artifact_path}"
        version = mlflow.register_model(source, name, tags=tags)
        registered[evaluation.run] = str(version.version)
        log.info("registered %s as %s version %s", evaluation.run, name, version.version)
    best_version = registered[best.run]
    holder = None if champion is None else str(champion.version)

    passed_over = "; ".join(
        f"{run} may not be {CHAMPION}: {why}" for run, why in ineligible.items()
    )
    if not eligible:
        promoted = False
        reason = f"not promoted: no run may become {CHAMPION} ({passed_over})"
    elif champion is None:
        promoted = True
        reason = (
            f"no {CHAMPION} yet: {best.run} (v{best_version}) becomes {CHAMPION} with "
            f"{config.metric} {best_value:.4f} on {split_id}"
        )
    elif best_version == holder:
        promoted = False
        reason = (
            f"not promoted: the best run {best.run} is the {CHAMPION} already (v{holder}, "
            f"{config.metric} {best_value:.4f} on {split_id})"
        )
    else:
        gain = _improvement(best_compared, champion_value, config.greater_is_better)
        promoted = gain > 0 and gain >= config.min_improvement
        how = "re-evaluated on" if reevaluated else "measured on"
        versus = (
            f"{best.run} (v{best_version}) {config.metric} {best_compared:.4f} vs {CHAMPION} "
            f"v{champion.version} {champion_value:.4f} ({how} {compared_on}); "
            f"improvement {gain:+.4f}, required > 0 and >= {config.min_improvement:g}"
        )
        reason = ("promoted: " if promoted else "not promoted: ") + versus
    if eligible and passed_over:
        reason += f" (passed over: {passed_over})"

    # the challenger: the best eligible run that is not (or did not become) the champion
    losers = [e for e in (eligible[1:] if promoted else eligible) if registered[e.run] != holder]
    challenger = losers[0] if losers else None
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, best_version)
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, champion.version)
    if challenger is not None:
        client.set_registered_model_alias(name, CHALLENGER, registered[challenger.run])
    elif _alias_version(client, name, CHALLENGER) is not None:
        client.delete_registered_model_alias(name, CHALLENGER)
    for evaluation in evaluations:
        version = registered[evaluation.run]
        if (evaluation is best and promoted) or (version == holder and not promoted):
            outcome = CHAMPION
        elif evaluation is challenger:
            outcome = CHALLENGER
        elif evaluation.run in ineligible:
            outcome = "ineligible"
        else:
            outcome = "not_promoted"
        client.set_model_version_tag(name, version, "gate_outcome", outcome)
    client.set_model_version_tag(name, best_version, "gate_reason", reason)
    client.set_registered_model_tag(name, "last_gate_decision", reason)

    decision = PromotionDecision(
        model_name=name,
        promoted=promoted,
        version=best_version,
        run=best.run,
        metric=config.metric,
        new_value=best_value,
        champion_version=(
            best_version if promoted else (None if champion is None else str(champion.version))
        ),
        previous_champion_version=None if champion is None else str(champion.version),
        champion_value=champion_value,
        champion_reevaluated=reevaluated,
        challenger_version=registered[challenger.run] if challenger is not None else None,
        test_split_id=test_split_id,
        split_id=compared_on,
        registered=registered,
        reason=reason,
    )
    log.info("champion gate for %s: %s", name, reason)
    return decision


def log_decision(
    decision: PromotionDecision, run_id: str | None = None, client: MlflowClient | None = None
) -> None:
    """Record a decision in an MLflow run (default: the active one): tags
    `gate_promoted`, `gate_version`, `gate_reason` and the `promotion_decision.json`
    artifact."""
    import mlflow
    from mlflow import MlflowClient

    if run_id is None:
        active = mlflow.active_run()
        if active is None:
            raise RegistryError("log_decision: no run_id given and no active MLflow run")
        run_id = active.info.run_id
    client = client or MlflowClient()
    client.set_tag(run_id, "gate_promoted", str(decision.promoted).lower())
    client.set_tag(run_id, "gate_version", decision.version)
    client.set_tag(run_id, "gate_reason", decision.reason)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, DECISION_FILE)
        path.write_text(json.dumps(decision.model_dump(mode="json"), indent=2))
        client.log_artifact(run_id, str(path))
