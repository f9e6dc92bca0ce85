"""benchmarks/quality.py finds the fold models of a finished cross-validation for an ensemble."""

import importlib.util
import json
import pathlib

QUALITY = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "quality.py"


def load_quality():
    spec = importlib.util.spec_from_file_location("benchmarks_quality_models", QUALITY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fold_models_per_seed_in_fold_order(tmp_path, capsys):
    quality = load_quality()
    lines = [{"seed": s, "fold": f, "model": f"/runs/seed{s}/fold{f}/best.keras"}
             for s in (0, 1) for f in (0, 1)]
    lines.append({"fold": "all", "models": [r["model"] for r in lines]})
    (tmp_path / "quality.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    assert quality.fold_models(str(tmp_path)) == {
        0: ["/runs/seed0/fold0/best.keras", "/runs/seed0/fold1/best.keras"],
        1: ["/runs/seed1/fold0/best.keras", "/runs/seed1/fold1/best.keras"]}
    assert quality.main(["--models", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "/runs/seed0/fold0/best.keras /runs/seed0/fold1/best.keras",
        "/runs/seed1/fold0/best.keras /runs/seed1/fold1/best.keras"]
