"""scripts/bench_speed.py's quality columns: fp8 with a step gets the figure of their run together on
the nano, and only says "parts" (a quality_note the planner and 07 read) where none was made."""

import bench_speed  # scripts/bench_speed.py (conftest.py finds scripts/)

from helpers.planner import quality_measured

NANO = {"pab": dict(psnr_db=30.0, caption_accuracy=1.0), "fp8": dict(psnr_db=29.0, caption_accuracy=0.944)}


def test_fp8_with_a_step_measured_apart_says_so_and_is_not_ranked_on_quality():
    row = dict(recipe="fp8+compile+pab", **bench_speed.quality("fp8+compile+pab", NANO))
    assert (row["quality_psnr_db"], row["fp8_psnr_db"]) == (30.0, 29.0) and "alone" in row["quality_note"]
    assert not quality_measured(row)


def test_fp8_with_a_step_measured_together_takes_that_run():
    nano = dict(NANO, **{"fp8+pab": dict(psnr_db=25.5, caption_accuracy=0.889)})
    row = dict(recipe="fp8+compile+pab", **bench_speed.quality("fp8+compile+pab", nano))
    assert (row["quality_psnr_db"], row["caption_score"], row["fp8_caption_score"]) == (25.5, 88.9, 94.4)
    assert quality_measured(row)


def test_fp8_alone_and_unmeasured_fp8():
    assert bench_speed.quality("fp8+compile", NANO)["quality_psnr_db"] == 29.0
    assert not quality_measured(dict(recipe="fp8+compile", **bench_speed.quality("fp8+compile", {})))


def test_the_nano_runs_fp8_with_every_step_an_fp8_row_adds():
    steps = {x for base, extras in bench_speed.GROUPS.values() if "fp8" in base for x in extras}
    assert {"fp8+" + x if x else "fp8" for x in steps} == set(bench_speed.NANO_FP8)


def test_groups_run_in_another_session_take_that_sessions_eager_time(tmp_path):
    def rows(*items):
        return [dict(gpu="NVIDIA H100", steps=50, peak_vram_gib=30.0, **i) for i in items]

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(bench_speed.json.dumps(rows(dict(recipe="baseline", group="eager", end_to_end_s=100.0, denoise_s=90.0),
                                                 dict(recipe="pab", group="eager", end_to_end_s=80.0))))
    second.write_text(bench_speed.json.dumps(rows(dict(recipe="baseline", group="session_baseline", end_to_end_s=90.0),
                                                  dict(recipe="sage_attention", group="attention", end_to_end_s=60.0))))
    merged = {r["recipe"]: r for r in bench_speed.merge([str(first), str(second)])}
    assert merged["baseline"]["end_to_end_s"] == 100.0  # the reference eager run stays the table's
    assert (merged["pab"]["speedup"], merged["sage_attention"]["speedup"]) == (1.25, 1.5)
    assert merged["sage_attention"]["session_baseline_s"] == 90.0 and "session_baseline_s" not in merged["pab"]


def test_a_recipe_that_failed_in_one_session_and_ran_in_another_is_measured_whichever_file_comes_first(tmp_path):
    base = dict(gpu="NVIDIA H100", steps=50, peak_vram_gib=30.0)
    eager = tmp_path / "eager.json"
    eager.write_text(bench_speed.json.dumps([dict(base, recipe="baseline", group="eager", end_to_end_s=100.0,
                                                  denoise_s=90.0)]))
    failed, ran = tmp_path / "failed.json", tmp_path / "ran.json"
    failed.write_text(bench_speed.json.dumps([dict(recipe="fp8+compile+fastercache", group="fp8_caches",
                                                   error="over 560 s; last output: ...")]))
    ran.write_text(bench_speed.json.dumps([dict(base, recipe="fp8+compile+fastercache", group="fp8_fastercache",
                                                end_to_end_s=40.0)]))
    for order in ([failed, ran], [ran, failed]):
        merged = {r["recipe"]: r for r in bench_speed.merge([str(eager)] + [str(f) for f in order])}
        row = merged["fp8+compile+fastercache"]
        assert (row["end_to_end_s"], row["speedup"], "error" in row) == (40.0, 2.5, False)


def test_fp8_rows_carry_the_quantization_benchmarks_fp8_error_on_the_5b_transformer(tmp_path):
    measured = next(r["transformer_rel_error"] for r in bench_speed.json.loads(bench_speed.QUANTIZATION.read_text())[
        "results"] if r.get("scheme") == "torchao_fp8_dynamic" and "transformer_rel_error" in r)
    f = tmp_path / "rows.json"
    f.write_text(bench_speed.json.dumps([dict(gpu="NVIDIA H100", steps=50, peak_vram_gib=30.0, group="fp8", **r)
                                         for r in (dict(recipe="baseline", end_to_end_s=100.0, denoise_s=90.0),
                                                   dict(recipe="fp8+compile", end_to_end_s=70.0),
                                                   dict(recipe="compile", end_to_end_s=80.0))]))
    merged = {r["recipe"]: r for r in bench_speed.merge([str(f)])}
    assert merged["fp8+compile"]["fp8_transformer_relative_error"] == measured > 0
    assert "fp8_transformer_relative_error" not in merged["compile"]
