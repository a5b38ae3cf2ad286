"""The memory planner against the committed GPU benchmark (media/benchmarks/memory.json)."""

import json
import re
from pathlib import Path

import pytest

from helpers import planner

import plan  # scripts/plan.py: the planner's command line (conftest.py finds scripts/)

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
    assert plan.main(["--vram-gib", "15", "--ram-gib", "12.7"]) == 0
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


# --- the speed choice ("fastest", "leanest") --------------------------------------------------
from types import SimpleNamespace  # noqa: E402

import helpers  # noqa: E402
from helpers.planner import choose_recipe, fastest_speed  # noqa: E402


def gpu(vram, cc="9.0", ram=200.0):
    return SimpleNamespace(cuda=True, vram_total_gib=vram, host_ram_total_gib=ram, compute_capability=cc)


SPEED = {"results": [
    dict(recipe="baseline", gpu="H100", end_to_end_s=100, peak_vram_gib=23.5, compile_s=0, speedup=1.0, caption_score=100),
    dict(recipe="compile", gpu="H100", end_to_end_s=75, peak_vram_gib=23.5, compile_s=12, speedup=1.33, caption_score=100),
    dict(recipe="fp8+compile", gpu="H100", end_to_end_s=62, peak_vram_gib=18, compile_s=49, speedup=1.61,
         caption_score=100, fp8_caption_score=100),
    dict(recipe="fp8+compile+half_steps", gpu="H100", end_to_end_s=35, peak_vram_gib=18, compile_s=49, speedup=2.9,
         caption_score=100, fp8_caption_score=100),
    dict(recipe="fastercache", gpu="H100", end_to_end_s=68, peak_vram_gib=39.5, compile_s=0, speedup=1.47,
         caption_score=94.4),
    dict(recipe="magcache", gpu="H100", end_to_end_s=50, peak_vram_gib=23.5, compile_s=0, speedup=2.0,
         caption_score=100, estimated=True),
]}


def test_fastest_speed_keeps_the_request_the_quality_and_what_the_gpu_has():
    assert fastest_speed(gpu(80), results=SPEED)[0] == "fp8+compile"  # not half steps, not estimated
    pab = dict(SPEED["results"][2], recipe="fp8+compile+pab", end_to_end_s=55, quality_note="parts")
    borrowed = {"results": SPEED["results"] + [pab]}
    assert fastest_speed(gpu(80), results=borrowed)[0] == "fp8+compile"  # its quality is only its parts'
    pab.pop("quality_note")  # measured together (scripts/bench_speed.py nano-fp8)
    assert fastest_speed(gpu(80), results=borrowed)[0] == "fp8+compile+pab"
    assert fastest_speed(gpu(80, cc="8.0"), results=SPEED)[0] == "compile"  # no fp8 before compute capability 8.9
    assert fastest_speed(gpu(80), results=SPEED, max_caption_loss=10)[0] == "fp8+compile"
    assert fastest_speed(gpu(16), results=SPEED)[0] == ""  # nothing measured fits 16 GB
    speed, why = fastest_speed(gpu(80), "model_cpu_offload+vae_tiling", results=SPEED)
    assert speed == "" and "everything on the GPU" in why


def test_fastest_and_leanest_choices_for_the_5b():
    five_b = helpers.choose_model("THUDM/CogVideoX-5b")
    fastest, why = choose_recipe(gpu(79.2), five_b, "fastest")
    assert fastest.startswith("all_on_gpu+vae_tiling+") and "speed.json" in why
    leanest, _ = choose_recipe(gpu(79.2), five_b, "leanest")
    assert helpers.planner.predict(leanest).peak_vram_gib < helpers.planner.predict("all_on_gpu+vae_tiling").peak_vram_gib
    # a T4 (attention in fp32 there): 49 frames fit only the low-RAM recipe (13.7 GiB measured under its emulation);
    # a 13 GiB card fits nothing at 49 frames and the low-RAM recipe at 17
    assert choose_recipe(gpu(14.7, cc="7.5", ram=12.7), five_b, "fastest")[0] == "low_ram_staged"
    with pytest.raises(RuntimeError, match="nothing fits 13.0 GiB VRAM"):
        choose_recipe(gpu(13.0, cc="7.5", ram=12.7), five_b)
    assert choose_recipe(gpu(13.0, cc="7.5", ram=12.7), five_b, num_frames=17)[0] == "low_ram_staged"
    t4, why = choose_recipe(gpu(14.7, cc="8.0", ram=12.7), five_b, "fastest")
    assert t4 == "low_ram_staged" and "no speed step" in why  # no fp8, and nothing measured fits 15 GB


MULTI_GPU = {"gpu": "NVIDIA H200", "results": {
    "none x1": dict(mode="none", speed="", processes=1, seconds=95.0),
    "cfg x2": dict(mode="cfg", speed="", processes=2, seconds=51.0, max_abs_difference=0.002),
    "ulysses x4": dict(error="refused"),
    "cfg x4": dict(mode="cfg", speed="", processes=4, seconds=30.0, max_abs_difference=0.003),
    "none x1+pab": dict(mode="none", speed="pab", processes=1, seconds=70.0),
    "cfg x2+pab": dict(mode="cfg", speed="pab", processes=2, seconds=38.0, max_abs_difference=0.004),
    "ulysses x2+fastercache": dict(mode="ulysses", speed="fastercache", processes=2, seconds=20.0),  # no 1-GPU row
    "none x1+compile": dict(mode="none", speed="compile", processes=1, seconds=60.0),
    "cfg x2+compile": dict(mode="cfg", speed="compile", processes=2, seconds=31.0, max_abs_difference=0.004),
    "cfg x2 (nano dry run)": dict(mode="cfg", speed="", processes=2, seconds=1.0, device="cpu"),
}}


def test_fastest_split_fits_the_gpu_count_and_is_compared_with_one_gpu_and_the_same_steps():
    two, four = (SimpleNamespace(**vars(gpu(79.2)), gpu_count=n) for n in (2, 4))
    assert "cfg with compile on 2: 31.0 s where one GPU took 60.0 s" in helpers.planner.fastest_parallel(two, MULTI_GPU)
    no_compile = SimpleNamespace(**vars(gpu(79.2, cc="7.5")), gpu_count=2)  # no bf16 compile below 8.0: the next one
    on_two = helpers.planner.fastest_parallel(no_compile, MULTI_GPU)
    assert "cfg with pab on 2: 38.0 s where one GPU took 70.0 s (1.84x" in on_two
    assert 'run_parallel(script, "cfg", 2, ..., speed=\'pab\')' in on_two and "random weights" in on_two
    assert "cfg on 4: 30.0 s where one GPU took 95.0 s (3.17x" in helpers.planner.fastest_parallel(four, MULTI_GPU)
    assert helpers.planner.fastest_parallel(SimpleNamespace(cuda=False, gpu_count=0), MULTI_GPU) == ""
    unmeasured = helpers.planner.fastest_parallel(two, {"results": {}})
    assert "09_multi_gpu splits one video across them (not measured" in unmeasured
    small = helpers.planner.fastest_parallel(SimpleNamespace(**vars(gpu(23.6, cc="8.9")), gpu_count=2), MULTI_GPU)
    assert "every GPU of a split holds the whole pipeline" in small and "no split runs here" in small


def test_fastest_on_two_gpus_names_the_split_and_one_gpu_does_not():
    five_b = helpers.choose_model("THUDM/CogVideoX-5b")
    two = SimpleNamespace(**vars(gpu(79.2)), gpu_count=2)
    assert "with 2 GPUs, " in choose_recipe(two, five_b, "fastest")[1]
    assert "GPUs" not in choose_recipe(gpu(79.2), five_b, "fastest")[1]
    assert "GPUs" not in choose_recipe(two, five_b)[1]  # only the fastest goal looks beyond one GPU


def test_apply_recipe_takes_speed_steps_after_memory_steps():
    pipe = helpers.load_pipeline("nano")
    assert helpers.apply_recipe(pipe, "vae_tiling+fused_qkv") == "vae_tiling+fused_qkv"
    assert pipe.transformer.transformer_blocks[0].attn1.fused_projections
    with pytest.raises(ValueError, match="speed steps"):
        helpers.apply_recipe(pipe, "vae_tiling+warp_speed")


# --- the family: each member's own memory (media/benchmarks/family.json) --------------------------
FAMILY_ROWS = [r for r in json.loads((Path(__file__).resolve().parents[1] / "media" / "benchmarks" / "family.json")
                                     .read_text())["results"] if "error" not in r]


def test_the_family_rows_are_random_full_size_models_on_a_gpu():
    note = json.loads((Path(__file__).resolve().parents[1] / "media" / "benchmarks" / "family.json").read_text())["note"]
    assert "RANDOM weights" in note
    assert {r["model"] for r in FAMILY_ROWS} >= {"CogVideoX-2b", "CogVideoX1.5-5B"}
    assert all("NVIDIA" in r["gpu"] and r["step_s"] > 0 for r in FAMILY_ROWS)  # a T4's row: emulated on one
    t4 = {r["model"] for r in FAMILY_ROWS if r.get("emulated") == "t4" and r["recipe"] == "low_ram_staged"}
    assert t4 == {"CogVideoX-5b", "CogVideoX-2b"}  # the T4 question, measured for both


@pytest.mark.parametrize("measured", FAMILY_ROWS, ids=lambda r: f"{r['model']}-{r['recipe']}")
def test_each_members_predicted_peaks_are_within_10_percent_of_measured(measured):
    """Calibrated on the all-on-GPU row's denoising peak; the offload row and both host RAM figures are predictions."""
    from helpers.family import member

    m = member(measured["model"])
    t4 = SimpleNamespace(cuda=True, compute_capability="7.5")  # a row run under COGVIDEOX_EMULATE=t4: its kernels
    attention = planner.attention_here(t4, m.name) if measured.get("emulated") == "t4" else "fused"
    p = planner.predict(measured["recipe"], num_frames=measured["num_frames"], height=m.height, width=m.width,
                        model=m.name, attention=attention)
    assert abs(p.peak_vram_gib - measured["peak_vram_gib"]) <= 0.1 * measured["peak_vram_gib"], p
    assert abs(p.peak_host_rss_gib - measured["peak_host_rss_gib"]) <= 0.1 * measured["peak_host_rss_gib"], p


@pytest.mark.parametrize("machine, model, recipe", [
    (gpu(15.0, "7.5", ram=12.7), "CogVideoX-5b", "low_ram_staged"),  # free Colab's T4: measured under its emulation
    (gpu(12.0, "7.5", ram=12.7), "CogVideoX-2b", "low_ram_staged"),  # a smaller card: the 5b fits nothing
    (gpu(24.0, "8.9", ram=32.0), "CogVideoX-5b", "low_ram_staged"),
    (gpu(80.0, "9.0", ram=128.0), "CogVideoX-5b", "all_on_gpu"),
], ids=["t4", "12gb", "24gb", "80gb"])
def test_recommend_model_picks_the_member_and_recipe_that_fit(machine, model, recipe):
    name, best, why = planner.recommend_model(machine)
    assert (name, best.recipe) == (model, recipe), why
    assert best.fits(machine.vram_total_gib, machine.host_ram_total_gib)
    if name != "CogVideoX-5b":
        assert "CogVideoX-5b: nothing fits" in why  # it says why the 5b was passed over


def test_where_the_5b_fits_nothing_it_falls_back_and_names_the_2b_that_fits(capsys):
    fit = planner.model_that_fits(gpu(12.0, "7.5", ram=12.7), "THUDM/CogVideoX-5b")
    assert fit.fell_back and "CogVideoX-2b fits here at its own request (low_ram_staged" in fit.why
    assert "MODEL = 'THUDM/CogVideoX-2b'" in fit.why
    assert plan.main(["--vram-gib", "12", "--ram-gib", "12.7", "--compute-capability", "7.5"]) == 1
    assert "CogVideoX-2b fits here instead: low_ram_staged" in capsys.readouterr().out
    assert plan.main(["--vram-gib", "15", "--ram-gib", "12.7", "--compute-capability", "7.5"]) == 0  # a T4
    assert "recommended recipe: low_ram_staged predicted_peak_vram_gib=13.70" in capsys.readouterr().out
    assert plan.main(["--model", "CogVideoX-2b", "--vram-gib", "15", "--ram-gib", "12.7",
                      "--compute-capability", "7.5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CogVideoX-2b, 49x480x720") and "recommended recipe: low_ram_staged" in out
    assert "attention in fp32" not in out  # fp16 takes the T4's memory-efficient kernel


def test_a_1_5_request_is_planned_at_its_own_size_and_tokens():
    assert planner.transformer_tokens(81, 768, 1360, model="CogVideoX1.5-5B") == 11 * 48 * 85 + 226
    fit = planner.model_that_fits(gpu(24.0, "8.9", ram=32.0), "THUDM/CogVideoX1.5-5B")
    assert "for CogVideoX1.5-5B: its own weights, and its denoising memory measured" in fit.why
    predicted = planner.predict(fit.recipe, num_frames=81, height=768, width=1360, model="CogVideoX1.5-5B")
    assert predicted.peak_vram_gib <= 0.95 * 24.0 and predicted.peak_vram_gib > planner.predict(fit.recipe).peak_vram_gib
