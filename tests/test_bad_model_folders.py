"""Broken model folders are refused by check_model_folder / load_pipeline, before any compute or download."""

import shutil

import pytest

import helpers
from helpers import ModelLoadError, check_model_folder, load_pipeline


@pytest.fixture
def model_copy(tmp_path):
    """A private copy of the kit's small model that a test may damage."""
    return shutil.copytree(helpers.small_model_path(), tmp_path / "CogVideoX-copy")


@pytest.fixture
def no_gpu(monkeypatch):
    """A CPU-only machine, whatever this one has."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_a_good_copy_passes_the_check_and_loads(model_copy):
    assert check_model_folder(model_copy) == model_copy
    pipe = load_pipeline(str(model_copy))
    assert type(pipe).__name__ == "CogVideoXPipeline"


@pytest.mark.parametrize("keep", [[], ["tokenizer_config.json"], ["tokenizer.json"]])
def test_tokenizer_folder_without_tokenizer_files(model_copy, keep):
    tokenizer = model_copy / "tokenizer"
    for f in tokenizer.iterdir():
        if f.name not in keep:
            f.unlink()
    with pytest.raises(ModelLoadError, match=r"tokenizer/ is missing its tokenizer files.*spiece\.model.*"
                                             r"every video ignores it.*--include 'tokenizer/\*'"):
        load_pipeline(str(model_copy))


def test_pickle_only_weights_are_refused(model_copy):
    transformer = model_copy / "transformer"
    (transformer / "diffusion_pytorch_model.safetensors").unlink()
    (transformer / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelLoadError, match=r"transformer/ has only pickle weights \(diffusion_pytorch_model\.bin\)"
                                             r".*safetensors only.*hf download.*safe_serialization=True"):
        check_model_folder(model_copy)


def test_component_without_any_weights_is_refused(model_copy):
    (model_copy / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"vae/ has no weights.*--include 'vae/\*'"):
        check_model_folder(model_copy)


@pytest.mark.parametrize("config", ["transformer/config.json", "scheduler/scheduler_config.json",
                                    "tokenizer/tokenizer_config.json", "text_encoder/config.json"])
def test_unparseable_component_config_is_named(model_copy, config):
    (model_copy / config).write_text('{"in_channels": 16,')  # cut off mid-download
    with pytest.raises(ModelLoadError, match=rf"{config} is not valid JSON.*--include '{config}'"):
        load_pipeline(str(model_copy))


def test_missing_component_config_is_named(model_copy):
    (model_copy / "vae" / "config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"vae/config.json is missing.*--include 'vae/config.json'"):
        check_model_folder(model_copy)


@pytest.mark.parametrize("text", ["<html>rate limited</html>", "[1, 2]"])
def test_broken_model_index(model_copy, text):
    (model_copy / "model_index.json").write_text(text)
    with pytest.raises(ModelLoadError, match=r"model_index.json is not .*--include 'model_index.json'"):
        load_pipeline(str(model_copy))


def test_broken_kit_marker_is_named(model_copy):
    (model_copy / "kit_model.json").write_text("{")
    with pytest.raises(ModelLoadError, match=r"kit_model.json is not valid JSON.*rebuilt on first use"):
        load_pipeline(str(model_copy))


def test_full_size_hub_model_on_a_cpu_is_refused_before_any_download(monkeypatch, no_gpu):
    import huggingface_hub

    def no_download(*args, **kwargs):
        pytest.fail("a download was started")

    monkeypatch.setattr("helpers.loading.download_model", no_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_download)
    with pytest.raises(ModelLoadError, match=r"THUDM/CogVideoX-5b is a full-size model.*no CUDA GPU.*"
                                             r"Nothing was downloaded.*MODEL = 'nano'.*allow_cpu=True"):
        load_pipeline("THUDM/CogVideoX-5b")


def test_allow_cpu_still_downloads_and_kit_models_still_load_on_a_cpu(monkeypatch, no_gpu):
    class Downloading(Exception):
        pass

    def download(repo_id, cache_dir=None):
        raise Downloading(repo_id)

    monkeypatch.setattr("helpers.loading.download_model", download)
    with pytest.raises(Downloading, match="THUDM/CogVideoX-5b"):
        load_pipeline("THUDM/CogVideoX-5b", allow_cpu=True)
    assert type(load_pipeline("small")).__name__ == "CogVideoXPipeline"
