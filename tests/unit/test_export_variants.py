"""Choosing the serving variant: the smallest TFLite file that keeps agreement, test
accuracy and speed (exporting and measuring the variants is tests/integration/test_export.py)."""

from __future__ import annotations

from islr.export.tflite import GateConfig, VariantReport, choose_variant


def variant(name, mb, ms, agreement=1.0, accuracy=0.80) -> VariantReport:
    return VariantReport(
        variant=name,
        size_bytes=int(mb * 1_000_000),
        mean_latency_ms=ms,
        p50_latency_ms=ms,
        p95_latency_ms=2 * ms,
        agreement=agreement,
        agreement_on="test",
        n_agreement=1000,
        test_accuracy=accuracy,
        parity_max_diff=0.0,
    )


def test_choose_variant_takes_the_smallest_that_keeps_agreement_accuracy_and_speed():
    gate = GateConfig()  # agreement >= 0.995, accuracy drop <= 0.005, latency <= 1.1x
    reports = [
        variant("float32", 8.6, 5.0),
        variant("float16", 4.3, 5.4),  # 1.08x float32's latency: eligible
        variant("dynamic_int8", 2.3, 3.0, agreement=0.996, accuracy=0.796),  # -0.4 pt
        variant("int8", 2.2, 2.5, agreement=0.90, accuracy=0.70),
    ]
    chosen, reason = choose_variant(reports, gate)
    assert chosen == "dynamic_int8" and reason.startswith("dynamic_int8: 2.30 MB")
    assert [r.eligible for r in reports] == [True, True, True, False]
    assert "agreement 0.9000 < 0.995" in reports[3].reason
    # 0.6 points below float32: the next smallest eligible one, float16
    reports[2] = variant("dynamic_int8", 2.3, 3.0, agreement=0.999, accuracy=0.794)
    assert choose_variant(reports, gate)[0] == "float16"
    assert "test accuracy 0.7940 vs float32 0.8000" in reports[2].reason
    # float16 slower than 1.1 x 5.0 ms: float32 stays
    reports[1] = variant("float16", 4.3, 5.6)
    assert choose_variant(reports, gate)[0] == "float32"
    assert "mean latency 5.60 ms > 1.1 x" in reports[1].reason
    # without test accuracy (no test split) only agreement and latency count
    bare = [
        variant("float32", 8.6, 5.0, accuracy=None),
        variant("dynamic_int8", 2.3, 3.0, agreement=1.0, accuracy=None),
    ]
    assert choose_variant(bare, gate)[0] == "dynamic_int8"
