"""The memory planner against the committed GPU benchmark (media/benchmarks/memory.json)."""

import json
import re
from pathlib import Path

import pytest

from helpers import planner

RESULTS = json.loads((Path(__file__).resolve().parents[1] / "media" / "benchmarks" / "memory.json").read_text())
MEASURED = [r for r in RESULTS["results"] if "error" not in r]


def test_results_say_the_weights_were_random_and_hold_the_fields_promised():
    assert "RANDOM weights" in RESULTS["note"]
    for r in MEASURED:
        for key in ("recipe", "gpu", "step_s", "decode_s", "peak_vram_gib", "peak_host_rss_gib",
                    "predicted_peak_vram_gib", "predicted_peak_host_rss_gib"):
            assert r[key] is not None, (r["recipe"], key)


@pytest.mark.parametrize("measured", MEASURED, ids=lambda r: f"{r['recipe']}-cap{r.get('vram_cap_gib')}")
def test_predicted_peak_vram_is_within_15_percent_of_measured(measured):
    recipe, _, frames = measured["recipe"].partition("@")
    predicted = planner.predict(recipe, num_frames=measured["num_frames"]).peak_vram_gib
    assert abs(predicted - measured["peak_vram_gib"]) <= 0.15 * measured["peak_vram_gib"]


def test_free_colab_t4_gets_the_low_ram_recipe_which_completed_on_a_capped_gpu(capsys):
    assert planner.main(["--vram-gib", "15", "--ram-gib", "12.7"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"recommended recipe: low_ram_staged predicted_peak_vram_gib=\d+\.\d\d "
                        r"predicted_peak_host_rss_gib=\d+\.\d\d", out[-1])
    capped = [r for r in MEASURED if r["recipe"] == "low_ram_staged" and r.get("vram_cap_gib") == 15]
    assert capped and capped[0]["frames_returned"] == 49 and capped[0]["peak_host_rss_gib"] <= 12


def test_more_frames_and_size_need_more_memory_and_nothing_fits_a_tiny_machine():
    small = planner.predict("model_cpu_offload+vae_tiling", num_frames=25)
    big = planner.predict("model_cpu_offload+vae_tiling", num_frames=49)
    assert small.peak_vram_gib < big.peak_vram_gib
    best, why = planner.recommend(vram_gib=6, ram_gib=8)
    assert best is None and "nothing fits" in why and "MODEL = 'nano'" in why
    best, why = planner.recommend(vram_gib=0, ram_gib=64)
    assert best is None and why.startswith("no CUDA GPU")


def test_a_big_gpu_keeps_everything_on_it_and_fp8_only_when_asked():
    best, _ = planner.recommend(vram_gib=80, ram_gib=128)
    assert best.recipe.startswith("all_on_gpu")
    best, _ = planner.recommend(vram_gib=21, ram_gib=64, allow_fp8=True)
    assert best.recipe == "layerwise_fp8+all_on_gpu+vae_tiling"


def test_unknown_recipe_names_the_known_ones():
    with pytest.raises(ValueError, match="does not know recipe 'cpu_offload'.*model_cpu_offload"):
        planner.predict("cpu_offload")
