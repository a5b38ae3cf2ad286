"""Quantization schemes on CogVideoX-nano (CPU), their messages, and the committed GPU benchmark file."""

import copy
import json
from pathlib import Path

import pytest
import torch

import helpers
from helpers.quantization import SCHEMES, QuantizationError, check_scheme, quantize_model, weight_gib

RESULTS = Path(__file__).resolve().parents[1] / "media" / "benchmarks" / "quantization.json"
CPU_SCHEMES = [name for name, s in SCHEMES.items() if s.library and not s.needs_fp8]


@pytest.fixture(scope="module")
def nano_transformer():
    return helpers.load_pipeline("nano").transformer


def transformer_inputs(transformer):
    g = torch.Generator().manual_seed(0)
    c = transformer.config
    return dict(
        hidden_states=torch.randn(2, 3, c.in_channels, c.sample_height, c.sample_width, generator=g),
        encoder_hidden_states=torch.randn(2, c.max_text_seq_length, c.text_embed_dim, generator=g),
        timestep=torch.tensor([500, 500]),
        return_dict=False,
    )


@pytest.mark.parametrize("scheme", CPU_SCHEMES)
def test_each_cpu_scheme_shrinks_the_weights_and_keeps_the_output_close(nano_transformer, scheme):
    model = copy.deepcopy(nano_transformer)
    inputs = transformer_inputs(model)
    with torch.no_grad():
        reference = model(**inputs)[0]
        before = weight_gib(model)
        quantize_model(model, scheme)
        out = model(**inputs)[0]
    assert weight_gib(model) < 0.6 * before  # fp32 -> 8 bits, plus scales and the layers left in fp32
    assert torch.isfinite(out).all()
    assert float((out - reference).norm() / reference.norm()) < 0.1


def test_int8_dynamic_leaves_the_timestep_layers_in_full_precision(nano_transformer):
    model = copy.deepcopy(nano_transformer)
    quantize_model(model, "torchao_int8_dynamic")
    assert type(model.transformer_blocks[0].norm1.linear.weight) is torch.nn.Parameter
    assert type(model.time_embedding.linear_1.weight) is torch.nn.Parameter
    assert type(model.transformer_blocks[0].ff.net[0].proj.weight) is not torch.nn.Parameter


def test_fp8_on_a_machine_without_fp8_says_what_to_use_instead():
    with pytest.raises(QuantizationError, match="compute capability 8.9.*Use torchao_int8_weight_only"):
        check_scheme("torchao_fp8_dynamic", "cpu")
    with pytest.raises(QuantizationError, match="unknown scheme 'int8wo'; the kit knows bf16, torchao_int8_weight_only"):
        check_scheme("int8wo")


def test_int8_dynamic_on_a_cpu_with_a_slow_int8_matmul_is_refused_naming_the_alternative(monkeypatch):
    monkeypatch.setattr(helpers.quantization, "int8_matmul_slowdown", lambda: 25.0)  # an AVX2-only EPYC measured 25x
    with pytest.raises(QuantizationError, match=r"int8 matmul \(torch._int_mm\) measured 25x .*Use torchao_int8_weight_only"):
        check_scheme("torchao_int8_dynamic", "cpu")
    assert check_scheme("torchao_int8_dynamic", "cuda").library == "torchao"  # a GPU's int8 matmul is not this CPU's
    model = torch.nn.Sequential(torch.nn.Linear(64, 64))
    quantize_model(model, "torchao_int8_dynamic")  # quantizing still works: only the generation would crawl
    assert type(model[0].weight).__name__ == "Int8Tensor"
    monkeypatch.setattr(helpers.quantization, "int8_matmul_slowdown", lambda: 0.5)  # int8 twice as fast (VNNI, AMX)
    assert check_scheme("torchao_int8_dynamic", "cpu").config == "Int8DynamicActivationInt8WeightConfig"


def test_benchmark_file_has_every_scheme_and_the_fields_the_notebooks_quote():
    record = json.loads(RESULTS.read_text())
    assert "RANDOM weights" in record["note"]
    rows = record["results"]
    assert {r["scheme"] for r in rows} == set(SCHEMES)
    for r in rows:
        assert {"scheme", "compiled", "gpu", "weights_gib", "peak_vram_gib", "step_s", "psnr_db"} <= set(r)
        assert (r["step_s"] is None) == ("error" in r), r  # a row is measured or says why not
    bf16 = next(r for r in rows if r["scheme"] == "bf16" and not r["compiled"])
    for r in rows:
        if r["scheme"] != "bf16" and r["weights_gib"] is not None:
            assert r["weights_gib"] < 0.6 * bf16["weights_gib"], r  # what quantizing T5 + transformer buys


def test_where_cogvideox_5b_fits_neither_recipe_the_nano_takes_its_place(tmp_path, monkeypatch, capsys):
    """before_after_setup on a T4 and on a 24 GB card (the model: a folder that is not one of the kit's)."""
    import shutil
    from types import SimpleNamespace

    import torch

    from helpers.nano import nano_model_path
    from helpers.quantization import before_after_setup

    folder = tmp_path / "CogVideoX-5b-like"
    shutil.copytree(nano_model_path(), folder, ignore=shutil.ignore_patterns("kit_model.json"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    t4 = SimpleNamespace(cuda=True, vram_total_gib=15.0, host_ram_total_gib=12.7, compute_capability="7.5")
    setup = before_after_setup(folder, None, t4)
    printed = capsys.readouterr().out
    assert setup.is_nano and setup.recipe == "all_on_gpu" and setup.folder != folder
    # a folder that is not the kit's is planned at CogVideoX-5b's own request (helpers.family): 49x480x720
    assert "skipped the before/after with model_cpu_offload+vae_tiling: it needs about 21.3 GiB of host RAM" in printed
    assert "This notebook goes on with CogVideoX-nano" in printed
    rtx4090 = SimpleNamespace(cuda=True, vram_total_gib=24.0, host_ram_total_gib=32.0, compute_capability="8.9")
    setup = before_after_setup(folder, 3, rtx4090)
    assert not setup.is_nano and setup.five_b and setup.recipe == "model_cpu_offload+vae_tiling"
    assert setup.folder == folder and setup.request["num_inference_steps"] == 3
    assert "the before/after recipe: model_cpu_offload+vae_tiling" in capsys.readouterr().out


def test_the_low_ram_recipe_can_load_the_transformer_int8_and_still_makes_the_video(monkeypatch):
    """generate_low_ram(transformer_int8=True): the transformer it runs holds int8 weights, the frames stay close."""
    import numpy as np
    from diffusers import CogVideoXTransformer3DModel

    from helpers.low_ram import generate_low_ram
    from helpers.quantization import psnr_db, weight_gib

    loaded = []
    original = CogVideoXTransformer3DModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        loaded.append(original(cls, *args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(CogVideoXTransformer3DModel, "from_pretrained", classmethod(spy))
    plain = generate_low_ram("nano", seed=3, num_inference_steps=4)
    int8 = generate_low_ram("nano", seed=3, num_inference_steps=4, transformer_int8=True)
    assert int8.shape == plain.shape == (9, 48, 72, 3) and np.isfinite(int8).all()
    assert weight_gib(loaded[1]) < 0.4 * weight_gib(loaded[0])  # int8 against the CPU's fp32
    assert psnr_db(plain, int8) > 30


def test_the_quantize_time_the_notebooks_point_to_is_measured_for_each_scheme():
    import json
    from pathlib import Path

    record = json.loads((Path(__file__).resolve().parents[1] / "media" / "benchmarks" / "quantize_time.json").read_text())
    assert "RANDOM weights" in record["note"]
    cpu = {r["scheme"]: r for r in record["results"] if r["device"] == "cpu"}
    assert set(cpu) == {"torchao_int8_weight_only", "quanto_qint8"}
    for row in cpu.values():
        assert row["seconds"] > 0 and abs(row["weights_gib_after"] / row["weights_gib_before"] - 0.5) < 0.02


def test_quantize_model_refuses_a_pipeline_and_a_model_quantized_already():
    import helpers
    from helpers.quantization import quantize_model

    pipe = helpers.load_pipeline("nano")
    with pytest.raises(ValueError, match="takes one component, such as pipe.transformer"):
        quantize_model(pipe, "torchao_int8_weight_only")
    for scheme in ("torchao_int8_weight_only", "quanto_qint8"):
        model = torch.nn.Sequential(torch.nn.Linear(64, 64))
        quantize_model(model, scheme)
        with pytest.raises(ValueError, match="is quantized already"):
            quantize_model(model, scheme)
