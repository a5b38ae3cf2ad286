"""Choosing and loading a model: every failure a user can act on gets a message that says how."""

import json
import shutil

import pytest

import helpers
from helpers import ModelLoadError, check_model_folder, choose_model, load_pipeline
from helpers.small_model import build_small_model


@pytest.fixture
def model_copy(tmp_path):
    """A private copy of the small model that a test may damage."""
    return shutil.copytree(helpers.small_model_path(), tmp_path / "CogVideoX-copy")


def test_small_model_has_the_hub_layout_and_loads_offline(small_pipe):
    folder = helpers.small_model_path()
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "CogVideoXPipeline"
    for name, cls in [("text_encoder", "T5EncoderModel"), ("tokenizer", "T5Tokenizer"),
                      ("transformer", "CogVideoXTransformer3DModel"), ("vae", "AutoencoderKLCogVideoX"),
                      ("scheduler", "CogVideoXDPMScheduler")]:
        assert index[name][1] == cls and (folder / name).is_dir()
        assert type(getattr(small_pipe, name)).__name__ == cls
    assert small_pipe.transformer.config.use_rotary_positional_embeddings
    assert small_pipe.scheduler.config.prediction_type == "v_prediction"
    assert small_pipe.vae_scale_factor_temporal == 4
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size < 10 * 1024**2


def test_small_model_is_deterministic_for_a_seed(tmp_path):
    a, b, c = (build_small_model(tmp_path / name, seed=s) for name, s in [("a", 0), ("b", 0), ("c", 1)])
    weights = "transformer/diffusion_pytorch_model.safetensors"
    assert (a / weights).read_bytes() == (b / weights).read_bytes()
    assert (a / weights).read_bytes() != (c / weights).read_bytes()


def test_small_model_generates_a_clip(small_pipe):
    import torch

    video = small_pipe("a panda", num_inference_steps=4, generator=torch.Generator().manual_seed(1)).frames[0]
    assert len(video) == 9 and video[0].size == (72, 48)


def test_choice_argument_beats_environment_beats_automatic(monkeypatch, tmp_path):
    monkeypatch.setenv("COGVIDEOX_MODEL", str(tmp_path))
    assert choose_model("THUDM/CogVideoX-5b").source == "THUDM/CogVideoX-5b"
    assert choose_model("THUDM/CogVideoX-5b").reason == "argument"
    chosen = choose_model()
    assert chosen.source == str(tmp_path) and "COGVIDEOX_MODEL" in chosen.reason
    monkeypatch.delenv("COGVIDEOX_MODEL")
    automatic = choose_model()  # no CUDA here
    assert automatic.kit_model == "nano" and automatic.reason == "automatic: no CUDA GPU"


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match=r"does not exist.*MODEL = 'nano'"):
        load_pipeline(str(tmp_path / "nowhere"))


def test_folder_without_model_index(tmp_path):
    with pytest.raises(ModelLoadError, match="no model_index.json"):
        check_model_folder(tmp_path)


def test_missing_component_names_it_and_how_to_fetch_it(model_copy):
    shutil.rmtree(model_copy / "vae")
    with pytest.raises(ModelLoadError, match=r"Component 'vae' is missing.*--include 'vae/\*'"):
        load_pipeline(str(model_copy))


def test_truncated_safetensors(model_copy):
    weights = model_copy / "transformer" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=r"diffusion_pytorch_model.safetensors is truncated.*download again"):
        load_pipeline(str(model_copy))


def test_corrupt_safetensors(model_copy):
    (model_copy / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(ModelLoadError, match="is corrupt"):
        check_model_folder(model_copy)


def test_missing_shard_of_a_sharded_checkpoint(model_copy):
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (model_copy / "text_encoder" / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="model-0000[12]-of-00002.safetensors is missing"):
        check_model_folder(model_copy)


def test_offline_with_nothing_cached_says_how_to_get_the_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as e:
        load_pipeline("THUDM/CogVideoX-5b", cache_dir=tmp_path, allow_cpu=True)
    message = str(e.value)
    assert "HF_HUB_OFFLINE" in message and "not in the hub cache" in message
    assert "hf download THUDM/CogVideoX-5b" in message and "MODEL = '/path/to/folder'" in message
    assert list(tmp_path.iterdir()) == []  # nothing half-downloaded


def test_not_enough_disk_for_a_download(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("helpers.loading._repo_download_bytes", lambda repo_id: 21 * 1024**3)
    monkeypatch.setattr("helpers.loading.free_disk_bytes", lambda path: 3 * 1024**3)
    with pytest.raises(ModelLoadError, match=r"Not enough disk.*needs 21.0 GiB, 3.0 GiB are free.*HF_HOME"):
        helpers.download_model("THUDM/CogVideoX-5b", cache_dir=tmp_path)


def test_full_size_model_on_a_cpu_only_machine_is_stopped_before_loading(model_copy):
    (model_copy / "kit_model.json").unlink()  # now it looks like a real downloaded model
    with pytest.raises(ModelLoadError, match=r"no CUDA GPU.*MODEL = 'nano'"):
        load_pipeline(str(model_copy))


def test_load_pipeline_dtype_and_offline_safetensors(small_pipe):
    import torch

    assert small_pipe.dtype == torch.float32
    pipe = load_pipeline("small", torch_dtype=torch.bfloat16)
    assert pipe.transformer.dtype == torch.bfloat16
