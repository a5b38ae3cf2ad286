"""LoRA on CogVideoX: the kit's trained CogVideoX-nano LoRAs, checks before loading one, and a training step.

A LoRA adds small low-rank matrices beside the transformer's attention projections; the base weights
stay as they are. The kit ships two LoRAs for CogVideoX-nano, each teaching a colour the nano never
saw (:data:`helpers.nano.NEW_COLOURS`), trained on the CPU by ``python scripts/train_nano_lora.py``
with the functions below, and saved in diffusers' LoRA format, so they load through the same call as
a LoRA from the hub: ``pipe.load_lora_weights(folder, adapter_name=...)``.

Example:
    >>> from helpers.lora import nano_lora_path
    >>> nano_lora_path("orange").name
    'pytorch_lora_weights.safetensors'
"""

import os
from pathlib import Path

import torch

from . import nano
from .checks import _is_finite
from .loading import ModelLoadError, check_safetensors

#: The attention projections a LoRA adapts, as diffusers' CogVideoX LoRA training script names them.
TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]
#: The file diffusers' ``save_lora_weights`` writes and ``load_lora_weights`` looks for in a folder.
WEIGHT_NAME = "pytorch_lora_weights.safetensors"


def nano_lora_path(colour: str) -> Path:
    """The shipped CogVideoX-nano LoRA that teaches ``colour`` (one of :data:`helpers.nano.NEW_COLOURS`).

    Example:
        >>> from helpers.lora import nano_lora_path
        >>> nano_lora_path("purple").parent.name
        'purple'
    """
    if colour not in nano.NEW_COLOURS:
        raise ValueError(f"the kit has LoRAs for {sorted(nano.NEW_COLOURS)}, not {colour!r}")
    return Path(__file__).parent / "models" / "cogvideox-nano-lora" / colour / WEIGHT_NAME


def new_colour_scenes(colour: str, backgrounds=tuple(nano.BACKGROUNDS)) -> list[nano.Scene]:
    """Every shape and motion in ``colour`` (a new one), on ``backgrounds``: a LoRA's training or test captions.

    Example:
        >>> from helpers.lora import new_colour_scenes
        >>> len(new_colour_scenes("orange")), new_colour_scenes("orange", ["dark"])[0].caption
        (63, 'a orange circle moving to the left on a dark background')
    """
    return [nano.Scene(colour, shape, motion, background)
            for shape in nano.SHAPES for motion in nano.MOTIONS for background in backgrounds]


def check_lora_file(path: str | os.PathLike, transformer=None) -> Path:
    """Refuse a LoRA that cannot load, before loading: a path that is not there, a file that is not safetensors,
    or (given ``transformer``) one made for another model, whose shapes do not match its layers.

    Returns the ``.safetensors`` file (a folder gives its ``pytorch_lora_weights.safetensors``).

    Example:
        >>> from helpers.lora import check_lora_file, nano_lora_path
        >>> check_lora_file(nano_lora_path("orange")).name
        'pytorch_lora_weights.safetensors'
        >>> check_lora_file("no-such-lora")
        Traceback (most recent call last):
        ...
        helpers.loading.ModelLoadError: no-such-lora: no such file or folder. Give a LoRA's folder or its .safetensors file, or a hub id to pipe.load_lora_weights.
    """
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHT_NAME
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file or folder. Give a LoRA's folder or its .safetensors file, "
                             "or a hub id to pipe.load_lora_weights.")
    if path.suffix != ".safetensors":
        raise ModelLoadError(f"{path} is not a .safetensors file: a pickled LoRA (.bin, .pt, .ckpt) can run code when "
                             "loaded. Ask its author for safetensors, or convert it on a machine you trust.")
    check_safetensors(path)
    if transformer is not None:
        _check_shapes(path, transformer)
    return path


def _check_shapes(path: Path, transformer) -> None:
    from safetensors import safe_open

    layers = dict(transformer.named_modules())
    with safe_open(path, "pt") as f:
        for key in f.keys():
            if ".lora_" not in key:  # alphas, other formats' keys: diffusers reads or converts them itself
                continue
            name, _, kind = key.removeprefix("transformer.").rpartition(".lora_")
            layer = layers.get(name)
            if layer is None:
                raise ModelLoadError(f"{path} adapts {name!r}, a layer this transformer does not have: the LoRA was "
                                     "made for another model. Use a LoRA trained for this model.")
            if not hasattr(layer, "in_features"):  # not a linear layer: nothing to compare
                continue
            rows, cols = f.get_slice(key).get_shape()[:2]  # lora_A: (rank, in_features); lora_B: (out_features, rank)
            found, wanted = (cols, layer.in_features) if kind.startswith("A") else (rows, layer.out_features)
            if found != wanted:
                raise ModelLoadError(
                    f"{path} was made for another model: its {key} expects {found} features where this model's "
                    f"{name} has {wanted} (for example a CogVideoX-2b LoRA, width 1920, on CogVideoX-5b, width "
                    "3072). Use a LoRA trained for this model.")


def check_adapter_weights(pipe, weights: dict) -> dict:
    """Refuse adapter names the pipeline has not loaded and weights that are not finite numbers of 0 or more.

    Returns ``weights`` as floats, ready for ``pipe.set_adapters(list(w), list(w.values()))``.

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.lora import check_adapter_weights
        >>> pipe = SimpleNamespace(get_list_adapters=lambda: {"transformer": ["orange"]})
        >>> check_adapter_weights(pipe, {"orange": 1})
        {'orange': 1.0}
        >>> check_adapter_weights(pipe, {"orange": -1})
        Traceback (most recent call last):
        ...
        ValueError: adapter 'orange': weight -1 is negative; give 0 (off) to 1 (as trained), or a little more to strengthen it.
    """
    loaded = sorted({name for names in pipe.get_list_adapters().values() for name in names})
    for name, weight in weights.items():
        if name not in loaded:
            raise ValueError(f"adapter {name!r} is not loaded (loaded: {loaded or 'none'}): load it first with "
                             f"pipe.load_lora_weights(path, adapter_name={name!r}), or use one of the loaded names.")
        if not _is_finite(weight):  # numpy numbers count, as in helpers.check_request
            raise ValueError(f"adapter {name!r}: weight {weight!r} is not a finite number; give 0 (off) to 1 (as trained).")
        if weight < 0:
            raise ValueError(f"adapter {name!r}: weight {weight} is negative; give 0 (off) to 1 (as trained), or a "
                             "little more to strengthen it.")
    return {name: float(weight) for name, weight in weights.items()}


def training_data(pipe, scenes: list[nano.Scene], seed: int = 0) -> dict:
    """Render ``scenes`` once and encode them as the transformer sees them: VAE latents and T5 caption embeddings.

    Example:
        >>> import helpers
        >>> from helpers.lora import new_colour_scenes, training_data
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +SKIP
        >>> training_data(pipe, new_colour_scenes("orange")[:2])["latents"].shape  # doctest: +SKIP
        torch.Size([2, 3, 16, 12, 18])
    """
    with torch.no_grad():
        clips = nano.render(scenes, seed=seed).permute(0, 4, 1, 2, 3) * 2 - 1  # (N, 3, F, H, W) in [-1, 1]
        latents = torch.cat([pipe.vae.encode(clips[i : i + 16]).latent_dist.sample() for i in range(0, len(clips), 16)])
        text = torch.cat([pipe.encode_prompt(s.caption, do_classifier_free_guidance=False)[0] for s in scenes])
    return {"latents": latents.permute(0, 2, 1, 3, 4) * pipe.vae.config.scaling_factor, "text": text}


def lora_parameters(transformer) -> list:
    """Freeze ``transformer``'s base weights and return the LoRA weights left to train.

    Example:
        >>> import torch
        >>> from helpers.lora import lora_parameters
        >>> lora_parameters(torch.nn.Linear(2, 2))  # no LoRA added: nothing to train
        []
    """
    for name, parameter in transformer.named_parameters():  # the base weights stay as they are
        if "lora_" not in name:
            parameter.requires_grad_(False)
    return [p for name, p in transformer.named_parameters() if "lora_" in name and p.requires_grad]


def train_lora(pipe, data: dict, steps: int, lr: float = 2e-3, batch: int = 8, seed: int = 0) -> list[float]:
    """Train the LoRA already added to ``pipe.transformer`` for ``steps`` steps; return each step's loss.

    The objective CogVideoX was trained with (and ``scripts/train_nano.py``): noise a clip's latents at a
    random timestep and predict the velocity (v-prediction); only the LoRA's weights change.

    Example:
        >>> from peft import LoraConfig
        >>> pipe.transformer.add_adapter(LoraConfig(r=16, lora_alpha=16, target_modules=TARGET_MODULES))  # doctest: +SKIP
        >>> losses = train_lora(pipe, training_data(pipe, new_colour_scenes("orange")), steps=30)  # doctest: +SKIP
    """
    transformer, scheduler = pipe.transformer, pipe.scheduler
    trained = lora_parameters(transformer)
    if not trained:
        raise ValueError("the transformer has no LoRA to train: add one first with "
                         "pipe.transformer.add_adapter(LoraConfig(...))")
    latents, text = data["latents"], data["text"]
    rope = pipe._prepare_rotary_positional_embeddings(nano.HEIGHT, nano.WIDTH, latents.shape[1], latents.device)
    optimizer = torch.optim.AdamW(trained, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    transformer.train()
    losses = []
    for _ in range(steps):
        pick = torch.randint(len(latents), (batch,), generator=generator)
        clean, t = latents[pick], torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=generator)
        noise = torch.randn(clean.shape, generator=generator)
        predicted = transformer(hidden_states=scheduler.add_noise(clean, noise, t), encoder_hidden_states=text[pick],
                                timestep=t, image_rotary_emb=rope, return_dict=False)[0]
        loss = torch.nn.functional.mse_loss(predicted, scheduler.get_velocity(clean, noise, t))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    transformer.eval()
    return losses


def quantized_types(model: torch.nn.Module) -> set[str]:
    """The quantized layer and weight types in ``model`` (empty when nothing is quantized): what
    :func:`check_fusable` and :func:`helpers.quantization.quantize_model` refuse to work on.

    Example:
        >>> import torch
        >>> from helpers.lora import quantized_types
        >>> from helpers.quantization import quantize_model
        >>> model = torch.nn.Sequential(torch.nn.Linear(64, 64))
        >>> quantized_types(model)
        set()
        >>> quantize_model(model, "quanto_qint8"); sorted(quantized_types(model))
        ['QLinear']
    """
    found = set()
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if type(module).__module__.startswith("optimum.quanto"):  # Quanto swaps the layers: QLinear, QConv2d
            found.add(type(module).__name__)
        elif isinstance(weight, torch.Tensor) and type(weight) not in (torch.nn.Parameter, torch.Tensor):
            found.add(type(weight).__name__)  # torchao swaps the weights: Int8Tensor, Float8Tensor
    return found


def check_fusable(pipe) -> None:
    """Refuse ``pipe.fuse_lora()`` on a quantized transformer, where it fails (torchao) or silently drops the LoRA
    (Quanto: the video comes out as without it, measured on CogVideoX-nano); say the order that works.

    Example:
        >>> import torch
        >>> from types import SimpleNamespace
        >>> from helpers.lora import check_fusable
        >>> check_fusable(SimpleNamespace(transformer=torch.nn.Linear(4, 4)))  # plain weights: fusing works
    """
    if quantized := quantized_types(pipe.transformer):
        raise ValueError(
            f"fuse_lora on a quantized transformer ({', '.join(sorted(quantized))}): torchao refuses it and Quanto silently "
            "drops the LoRA. Keep the LoRA unfused (it works as loaded), or fuse before quantizing: load it, "
            "pipe.fuse_lora(), pipe.unload_lora_weights(), then quantize.")
