"""LoRA on CogVideoX-nano: a trained LoRA saved in diffusers' format loads back through the same API and does
what it did; the shipped LoRAs load and change the colour; every bad LoRA input is refused before loading."""

import math
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import helpers
from helpers.lora import (TARGET_MODULES, WEIGHT_NAME, check_adapter_weights, check_lora_file, nano_lora_path,
                          new_colour_scenes, train_lora, training_data)


@pytest.fixture(scope="module")
def nano():
    pipe = helpers.load_pipeline("nano")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def clip(pipe, prompt, **kwargs):
    return pipe(prompt=prompt, num_frames=9, height=48, width=72, num_inference_steps=3, guidance_scale=6.0,
                generator=torch.Generator().manual_seed(0), output_type="np", **kwargs).frames[0]


def test_a_trained_lora_round_trips_through_diffusers_format(nano, tmp_path):
    from diffusers import CogVideoXPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    prompt = "a orange square moving up on a grey background"
    plain = clip(nano, prompt)
    data = training_data(nano, new_colour_scenes("orange")[:4])
    nano.transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=TARGET_MODULES), adapter_name="mine")
    losses = train_lora(nano, data, steps=3, lr=1e-2, batch=2)
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    trained = clip(nano, prompt)
    assert np.abs(trained - plain).max() > 1e-3  # the LoRA changes the video
    CogVideoXPipeline.save_lora_weights(tmp_path, transformer_lora_layers=get_peft_model_state_dict(nano.transformer, adapter_name="mine"))
    nano.delete_adapters("mine")
    assert np.abs(clip(nano, prompt) - plain).max() < 1e-5  # gone: the base weights were never changed

    assert check_lora_file(tmp_path, nano.transformer) == tmp_path / WEIGHT_NAME
    nano.load_lora_weights(tmp_path, adapter_name="mine")
    np.testing.assert_allclose(clip(nano, prompt), trained, atol=1e-5)  # loaded back: the same video
    nano.set_adapters(["mine"], [0.0])
    np.testing.assert_allclose(clip(nano, prompt), plain, atol=1e-5)  # weight 0: off
    nano.unload_lora_weights()


def test_the_shipped_loras_load_and_change_the_colour(nano):
    for colour in helpers.nano.NEW_COLOURS:
        assert check_lora_file(nano_lora_path(colour), nano.transformer).stat().st_size < 2_000_000
    prompt = "a purple circle moving to the right on a dark background"
    plain = clip(nano, prompt)
    nano.load_lora_weights(nano_lora_path("purple").parent, adapter_name="purple")
    try:
        assert np.abs(clip(nano, prompt) - plain).max() > 0.05
        assert nano.get_active_adapters() == ["purple"]
    finally:
        nano.unload_lora_weights()


def test_check_lora_file_refuses_what_cannot_load(nano, tmp_path):
    refusals = {
        "missing": (tmp_path / "nothing", "no such file or folder"),
        "pickle": (tmp_path / "lora.bin", "is not a .safetensors file"),
        "corrupt": (tmp_path / "corrupt.safetensors", "corrupt"),
        "wider model": (tmp_path / "wide.safetensors", "made for another model"),
        "another layer": (tmp_path / "layer.safetensors", "a layer this transformer does not have"),
    }
    refusals["pickle"][0].write_bytes(b"\x80\x04pickle")
    refusals["corrupt"][0].write_bytes(struct.pack("<Q", 10**9) + b"{}")
    save_file({"transformer.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.zeros(4, 1920)}, refusals["wider model"][0])
    save_file({"transformer.text_encoder.layer.lora_A.weight": torch.zeros(4, 8)}, refusals["another layer"][0])
    for path, message in refusals.values():
        with pytest.raises(helpers.ModelLoadError, match=message):
            check_lora_file(path, nano.transformer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.safetensors", "layer.safetensors", "lora.bin",
                                                          "wide.safetensors"]  # nothing written
    fits = tmp_path / "fits.safetensors"  # the right width, with an alpha key beside it: accepted
    save_file({"transformer.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.zeros(4, 256),
               "transformer.transformer_blocks.0.attn1.to_q.alpha": torch.tensor(4.0)}, fits)
    assert check_lora_file(fits, nano.transformer) == fits


@pytest.mark.parametrize("weights, message", [
    ({"oragne": 1.0}, "adapter 'oragne' is not loaded"),
    ({"orange": -0.5}, "is negative"),
    ({"orange": float("nan")}, "not a finite number"),
    ({"orange": "1"}, "not a finite number"),
    ({"orange": True}, "not a finite number"),
])
def test_check_adapter_weights_refuses_bad_names_and_weights(nano, weights, message):
    nano.load_lora_weights(nano_lora_path("orange").parent, adapter_name="orange")
    try:
        with pytest.raises(ValueError, match=message):
            check_adapter_weights(nano, weights)
        assert check_adapter_weights(nano, {"orange": 1}) == {"orange": 1.0}
        assert check_adapter_weights(nano, {"orange": np.float32(0.5)}) == {"orange": 0.5}  # numpy numbers count
    finally:
        nano.unload_lora_weights()


def test_training_without_an_adapter_is_refused(nano):
    data = {"latents": torch.zeros(1, 3, 16, 12, 18), "text": torch.zeros(1, 226, 64)}
    with pytest.raises(ValueError, match="add one first"):
        train_lora(nano, data, steps=1)


def test_a_lora_loads_onto_compiled_blocks_and_each_change_compiles_them_again():
    """10 and the README say: loading after compiling works, but a load or a new weight compiles the blocks again."""
    from torch._dynamo.utils import counters

    pipe = helpers.load_pipeline("nano")  # its own pipeline: compiled blocks stay compiled
    pipe.set_progress_bar_config(disable=True)
    torch._dynamo.reset()
    for block in pipe.transformer.transformer_blocks:
        block.compile(backend="eager")  # dynamo's tracing and guards, without inductor's minutes on a CPU
    prompt = "a orange circle moving to the right on a dark background"
    plain = clip(pipe, prompt)
    graphs = counters["stats"]["unique_graphs"]
    pipe.load_lora_weights(nano_lora_path("orange").parent, adapter_name="orange")
    with_lora = clip(pipe, prompt)
    assert np.abs(with_lora - plain).max() > 1e-3  # the LoRA acts inside the compiled blocks
    assert counters["stats"]["unique_graphs"] > graphs  # ... which compiled again
    graphs = counters["stats"]["unique_graphs"]
    pipe.set_adapters(["orange"], [0.5])
    half = clip(pipe, prompt)
    assert np.abs(half - with_lora).max() > 1e-3 and counters["stats"]["unique_graphs"] > graphs
    torch._dynamo.reset()
