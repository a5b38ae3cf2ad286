"""Choose which CogVideoX model a notebook uses, check it, download it, and load it.

One setting picks the model: an explicit argument, else the ``COGVIDEOX_MODEL``
environment variable, else an automatic choice (CogVideoX-5b where a CUDA GPU and the
weights or a download are available, otherwise the kit's trained CogVideoX-nano).
Every failure a user can act on raises :class:`ModelLoadError` with the fix in its message.
"""

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

from .environment import GIB, LOW_HOST_RAM_GIB, EnvironmentReport, environment_report, free_disk_bytes, hub_cache_dir
from .family import member_of
from .image_video import CHECKPOINTS, PIPELINES, check_task
from .nano import nano_available, nano_model_path
from .saving import outputs_dir
from .small_model import KIT_MARKER, small_model_path

COGVIDEOX_5B = CHECKPOINTS["text"]
NANO, NANO_I2V, SMALL, SMALL_I2V = "nano", "nano-i2v", "small", "small-i2v"
MODEL_ENV = "COGVIDEOX_MODEL"
#: What the kit's own local models are, as ``kit_model.json`` names them.
KIT_MODEL_LABELS = {
    "nano": "CogVideoX-nano (trained on synthetic shapes; 48x72, 9 frames)",
    "nano-i2v": "CogVideoX-nano-i2v (image to video, trained on synthetic shapes; 48x72, 9 frames)",
    "small": "small local model (random weights: its videos are noise)",
    "small-i2v": "small local image-to-video model (random weights: its videos are noise)",
}

#: Files the pipeline needs from a hub repository: configs, the tokenizer, safetensors weights.
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "tokenizer/*"]
#: Size of CogVideoX-5b's files in DOWNLOAD_PATTERNS when the hub cannot be asked (bf16 safetensors).
ESTIMATED_5B_DOWNLOAD_BYTES = int(21.5 * 1000**3)
#: Files that hold a tokenizer's vocabulary (fast tokenizer, SentencePiece, BPE, WordPiece); a tokenizer needs one.
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer.model", "sentencepiece.bpe.model", "vocab.json", "vocab.txt")
#: Weight formats the kit never loads: pickle files can run code when they are loaded.
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")


class ModelLoadError(RuntimeError):
    """A model cannot be found, downloaded or loaded; the message says what to do next."""


@dataclass(frozen=True)
class ModelChoice:
    """Which model to load and why.

    ``source`` is a local folder or a hub id; ``reason`` says which setting chose it.
    """

    source: str
    reason: str

    @property
    def kit_model(self) -> str | None:
        """``"nano"``, ``"nano-i2v"``, ``"small"`` or ``"small-i2v"`` for the kit's own local models, else ``None``."""
        return kit_model_kind(self.source)

    @property
    def is_local(self) -> bool:
        """True when ``source`` is a folder on this machine: a hub id is ``owner/name``; anything else is a folder."""
        return self.source.startswith(("/", ".", "~")) or self.source.count("/") != 1 or Path(self.source).exists()

    def __str__(self) -> str:
        if self.kit_model:
            return f"{KIT_MODEL_LABELS[self.kit_model]}  [{self.reason}]\n  folder: {self.source}"
        return f"{self.source}  [{self.reason}]"


def kit_model_kind(folder: str | os.PathLike) -> str | None:
    """The kit model's name (``"nano"``, ``"small"``, ...) when ``folder`` holds one of its own models, else ``None``.

    Example:
        >>> from helpers import small_model_path
        >>> from helpers.loading import kit_model_kind
        >>> kit_model_kind(small_model_path()), kit_model_kind("THUDM/CogVideoX-5b")
        ('small', None)
    """
    marker = Path(folder) / KIT_MARKER
    if not marker.is_file():
        return None
    fix = (f"The kit writes this file for its own models: delete {Path(folder)} if it is the small model "
           "(it is rebuilt on first use), or reinstall the kit for CogVideoX-nano.")
    written = _read_json(marker, fix)
    kind = written.get("kind") if isinstance(written, dict) else None
    if kind not in KIT_MODEL_LABELS:
        raise ModelLoadError(f"{marker} names no kit model (expected one of {', '.join(KIT_MODEL_LABELS)}). {fix}")
    return kind


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set: nothing may be downloaded.

    Example:
        >>> from helpers.loading import hub_offline
        >>> hub_offline() in (True, False)
        True
    """
    from huggingface_hub import constants

    # The variable too: huggingface_hub reads it once, on import, so a notebook that sets it later would
    # still download through the kit without this.
    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES


def cached_snapshot(repo_id: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The local folder of ``repo_id`` in the hub cache, or ``None`` when it is not there.

    Example:
        >>> from helpers.loading import cached_snapshot
        >>> cached_snapshot("THUDM/CogVideoX-5b") is None  # nothing downloaded here
        True
    """
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id, cache_dir=cache_dir or hub_cache_dir(), local_files_only=True, allow_patterns=DOWNLOAD_PATTERNS
        )
    except Exception:  # not cached, or not a valid repo id: either way there is nothing local
        return None
    return Path(folder) if (Path(folder) / "model_index.json").exists() else None


def choose_model(model: str | os.PathLike | None = None) -> ModelChoice:
    """Decide which model to use: argument, else ``$COGVIDEOX_MODEL``, else automatic.

    ``"nano"`` is CogVideoX-nano, shipped with the kit (trained on synthetic shapes), ``"nano-i2v"``
    its image-to-video twin; ``"small"`` the random-weight small model (built on first use, for
    plumbing), ``"small-i2v"`` its image-to-video twin; anything
    else is a local folder or a hub id such as ``"THUDM/CogVideoX-5b"``. Automatic picks
    CogVideoX-5b when a CUDA GPU is present and the weights are cached or can be downloaded,
    otherwise CogVideoX-nano, and says why.

    Example:
        >>> from helpers import choose_model
        >>> print(choose_model("nano"))  # doctest: +ELLIPSIS
        CogVideoX-nano (trained on synthetic shapes; 48x72, 9 frames)  [argument]
          folder: ...cogvideox-nano
    """
    if model is not None and str(model).strip():
        source, reason = str(model), "argument"
    elif os.environ.get(MODEL_ENV, "").strip():
        source, reason = os.environ[MODEL_ENV].strip(), f"{MODEL_ENV} environment variable"
    elif not torch.cuda.is_available():
        source, reason = NANO, "automatic: no CUDA GPU"
    elif cached_snapshot(COGVIDEOX_5B):
        source, reason = COGVIDEOX_5B, "automatic: CUDA GPU and the weights are in the hub cache"
    elif hub_offline():
        source, reason = NANO, "automatic: HF_HUB_OFFLINE is set and CogVideoX-5b is not cached"
    elif free_disk_bytes(hub_cache_dir()) < ESTIMATED_5B_DOWNLOAD_BYTES * 1.1:
        source, reason = NANO, "automatic: not enough free disk to download CogVideoX-5b"
    else:
        source, reason = COGVIDEOX_5B, "automatic: CUDA GPU found, the weights will be downloaded"
    task = "image" if source in (NANO_I2V, SMALL_I2V) else "text"
    if source in (NANO, NANO_I2V) and not nano_available(task):
        reason += f" ({KIT_MODEL_LABELS[source].split(' (')[0]}'s weights are missing: using the random small model)"
        source = source.replace(NANO, SMALL)  # nano -> small, nano-i2v -> small-i2v
    if source in KIT_MODEL_LABELS:
        source = str((nano_model_path if source.startswith(NANO) else small_model_path)(task=task))
    elif source.startswith("~"):
        source = str(Path(source).expanduser())
    return ModelChoice(source=source, reason=reason)


def check_safetensors(path: str | os.PathLike) -> None:
    """Raise :class:`ModelLoadError` if a ``.safetensors`` file is truncated or corrupt.

    Reads only the header: the file must be exactly as long as the header says.

    Example:
        >>> from helpers.loading import check_safetensors
        >>> check_safetensors("model.safetensors")  # doctest: +SKIP
    """
    path = Path(path)
    size = path.stat().st_size
    redownload = "Delete it and download again (huggingface_hub resumes and re-fetches it), or rebuild the model."
    try:
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(f.read(header_len))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path} is corrupt (not a readable safetensors file: {e}). {redownload}") from None
    expected = 8 + header_len + end
    if size != expected:
        raise ModelLoadError(f"{path} is truncated: {size:,} bytes on disk, {expected:,} expected "
                             f"(an interrupted download or copy). {redownload}")


def _read_json(path: Path, fix: str):
    """The parsed JSON file at ``path``; a :class:`ModelLoadError` naming the file and ``fix`` when it is not JSON."""
    try:
        return json.loads(path.read_text())
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise ModelLoadError(f"{path} is not valid JSON ({e}). {fix}") from None


def _refetch(folder: Path, path: str, how: str = "Download it again with") -> str:
    """``how``, then the command that downloads ``path`` (a file or ``part/*``) of the pipeline in ``folder`` again."""
    return f"{how}: hf download {COGVIDEOX_5B} --include '{path}' --local-dir {folder}"


def _check_shards(part: Path, fix: str) -> None:
    """Every shard a ``*.safetensors.index.json`` in ``part`` lists must be there."""
    for shard_index in part.glob("*.safetensors.index.json"):
        weight_map = _read_json(shard_index, fix).get("weight_map")
        if not isinstance(weight_map, dict):
            raise ModelLoadError(f"{shard_index} has no weight_map, so it is not a shard index. {fix}")
        for shard in sorted(set(weight_map.values())):
            if not (part / shard).exists():
                raise ModelLoadError(f"{part / shard} is missing (listed in {shard_index.name}). {fix}")


def _check_weights(part: Path, folder: Path) -> None:
    """A part with weights must hold safetensors: the kit never loads pickle (``.bin``) weights."""
    if any(part.glob("*.safetensors")):
        return
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in part.glob(pattern))
    if not pickles:
        raise ModelLoadError(f"{part}/ has no weights (no .safetensors file). {_refetch(folder, part.name + '/*')}")
    raise ModelLoadError(
        f"{part}/ has only pickle weights ({', '.join(pickles)}): the kit loads safetensors only, since pickle "
        f"files can run code when they are loaded. {_refetch(folder, part.name + '/*')} (the hub repository has "
        "safetensors), or, if you trust where the .bin came from, convert it once: load that component with "
        "from_pretrained(..., use_safetensors=False) and save_pretrained(..., safe_serialization=True).")


def _check_tokenizer(part: Path, folder: Path) -> None:
    """A tokenizer needs its config and a vocabulary file, or every prompt is lost."""
    if (part / "tokenizer_config.json").is_file() and any((part / f).is_file() for f in TOKENIZER_FILES):
        return
    raise ModelLoadError(
        f"{part}/ is missing its tokenizer files: it needs tokenizer_config.json and one of "
        f"{', '.join(TOKENIZER_FILES)}. Without them the prompt cannot be read and every video ignores it. "
        f"{_refetch(folder, part.name + '/*')}")


def _check_component(folder: Path, name: str, cls: str, fix: str) -> None:
    """One component folder: present, every JSON file parses, its config, shards, weights or tokenizer files."""
    part = folder / name
    if not part.is_dir():
        raise ModelLoadError(f"Component '{name}' is missing: {part}/ does not exist. "
                             f"{_refetch(folder, f'{name}/*', 'Fetch just that part with')}")
    for file in sorted(part.glob("*.json")):
        _read_json(file, _refetch(folder, f"{name}/{file.name}"))
    if "Tokenizer" in cls:
        return _check_tokenizer(part, folder)
    # The config file each kind of component must hold; a component that is no scheduler or processor has weights.
    config = ("scheduler_config.json" if "Scheduler" in cls
              else "preprocessor_config.json" if cls.endswith(("Processor", "FeatureExtractor")) else "config.json")
    if not (part / config).is_file():
        raise ModelLoadError(f"{part / config} is missing. {_refetch(folder, f'{name}/{config}')}")
    if config == "config.json":
        _check_shards(part, fix)
        _check_weights(part, folder)


def check_model_folder(folder: str | os.PathLike) -> Path:
    """Check a local pipeline folder before loading it; return it as a ``Path``.

    Reads only configs and file headers. Finds: a missing folder; a missing or unreadable
    ``model_index.json``; a missing component folder; a component config that is missing or
    not valid JSON; a tokenizer folder without tokenizer files; weights that are only pickle
    (``.bin``) files or absent; a missing shard of a sharded checkpoint; truncated or corrupt
    ``.safetensors`` files.

    Example:
        >>> from helpers import check_model_folder, small_model_path
        >>> check_model_folder(small_model_path()).name  # doctest: +ELLIPSIS
        'cogvideox-small-...'
        >>> check_model_folder("/nowhere")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        helpers.loading.ModelLoadError: Model folder /nowhere does not exist. ...
    """
    folder = Path(folder).expanduser()
    fix = (
        f"Download it again (hf download {COGVIDEOX_5B} --local-dir {folder}) "
        "or use the kit's CogVideoX-nano (MODEL = 'nano')."
    )
    if not folder.is_dir():
        raise ModelLoadError(f"Model folder {folder} does not exist. Check the path, or {fix[0].lower()}{fix[1:]}")
    index = folder / "model_index.json"
    if not index.exists():
        raise ModelLoadError(f"{folder} has no model_index.json, so it is not a diffusers pipeline folder. {fix}")
    specs = _read_json(index, _refetch(folder, "model_index.json"))
    if not isinstance(specs, dict):
        raise ModelLoadError(f"{index} is not a pipeline index (a JSON object). {_refetch(folder, 'model_index.json')}")
    for name, spec in specs.items():  # components are listed as name: [library, class]
        if not name.startswith("_") and isinstance(spec, list) and len(spec) == 2 and spec[0] is not None:
            _check_component(folder, name, str(spec[1]), fix)
    for weights in sorted(folder.glob("*/*.safetensors")):
        check_safetensors(weights)
    return folder


def hub_download_files(repo_id: str, timeout: float = 10) -> list:
    """The files of ``repo_id`` that :func:`download_model` fetches (its ``DOWNLOAD_PATTERNS``), with their sizes, asked
    of the hub: ``huggingface_hub``'s own file infos (``rfilename``, ``size``), filtered as ``snapshot_download`` filters.

    Example:
        >>> from helpers.loading import hub_download_files
        >>> [f.rfilename for f in hub_download_files("THUDM/CogVideoX-5b")][:1]  # doctest: +SKIP
        ['model_index.json']
    """
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    siblings = HfApi().model_info(repo_id, files_metadata=True, timeout=timeout).siblings
    return list(filter_repo_objects(siblings, allow_patterns=DOWNLOAD_PATTERNS, key=lambda s: s.rfilename))


def _repo_download_bytes(repo_id: str) -> int:
    """Bytes ``download_model`` will fetch, asked of the hub; an estimate when it cannot be asked."""
    try:
        return sum(f.size or 0 for f in hub_download_files(repo_id))
    except Exception:
        return ESTIMATED_5B_DOWNLOAD_BYTES


def download_model(repo_id: str = COGVIDEOX_5B, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download a pipeline into the hub cache (with progress bars, resuming a broken download).

    Checks the free disk first and only fetches what the pipeline needs (configs, tokenizer,
    safetensors), and notes when host RAM is too small to load it in one go. Returns the local folder.

    Example:
        >>> from helpers import download_model
        >>> folder = download_model("THUDM/CogVideoX-5b")  # doctest: +SKIP
    """
    from huggingface_hub import errors, snapshot_download

    cache_dir = Path(cache_dir or hub_cache_dir())
    if (local := cached_snapshot(repo_id, cache_dir)) is not None:
        return local
    if hub_offline():
        raise ModelLoadError(
            f"HF_HUB_OFFLINE is set and {repo_id} is not in the hub cache ({cache_dir}). Either download it "
            f"where there is internet (hf download {repo_id}) and copy the folder here, then set "
            f"MODEL = '/path/to/folder' (or COGVIDEOX_MODEL); or unset HF_HUB_OFFLINE; "
            "or use the kit's CogVideoX-nano (MODEL = 'nano').")
    ram = psutil.virtual_memory().total / GIB
    if ram < LOW_HOST_RAM_GIB:
        print(f"note: this machine has {ram:.1f} GiB of host RAM. The download is fine; to load CogVideoX-5b "
              "use the low-RAM recipe (one component at a time), or the kernel may die while loading.")
    needed, free = _repo_download_bytes(repo_id), free_disk_bytes(cache_dir)
    if free < needed * 1.05:
        raise ModelLoadError(
            f"Not enough disk to download {repo_id}: it needs {needed / GIB:.1f} GiB, "
            f"{free / GIB:.1f} GiB are free at {cache_dir}. Free some space, or point the cache at a "
            "bigger disk (set HF_HOME before starting Python), or use the kit's CogVideoX-nano (MODEL = 'nano').")
    try:
        folder = snapshot_download(repo_id, cache_dir=cache_dir, allow_patterns=DOWNLOAD_PATTERNS)
    except errors.GatedRepoError:
        raise ModelLoadError(
            f"{repo_id} needs you to accept its licence and log in: open its page on the hub, accept, then run "
            "`from huggingface_hub import login; login()` (the token stays in your hub config; never paste it into a notebook)."
        ) from None
    except errors.RepositoryNotFoundError:
        raise ModelLoadError(f"{repo_id!r} is not a model on the hub (check the spelling: the 5b is {COGVIDEOX_5B!r}), "
                             "and it is not a folder on this machine either.") from None
    except (errors.HfHubHTTPError, OSError) as e:
        raise ModelLoadError(
            f"Downloading {repo_id} failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
            "Check the connection and run again: the download resumes where it stopped.") from None
    return check_model_folder(folder)


def model_folder(model: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                 allow_cpu: bool = True) -> Path:
    """The checked local folder of the chosen model: a folder as it is, a hub id from the cache or downloaded.

    Prints which model was chosen and why. With ``allow_cpu=False`` a hub id on a machine
    without a CUDA GPU is refused before anything is downloaded.

    Example:
        >>> from helpers.loading import model_folder
        >>> model_folder("nano").name  # doctest: +ELLIPSIS
        model: CogVideoX-nano ...
          folder: ...
        'cogvideox-nano'
    """
    choice = choose_model(model)
    print(f"model: {choice}")
    if choice.is_local:
        return check_model_folder(choice.source)
    refuse_full_size_on_cpu(choice.source, allow_cpu)  # before a 21 GB download, not after it
    return download_model(choice.source, cache_dir=cache_dir)


def refuse_full_size_on_cpu(source: str | os.PathLike, allow_cpu: bool = False) -> None:
    """Raise :class:`ModelLoadError` when ``source`` (a folder or hub id) is not a kit model and there is no CUDA GPU.

    ``allow_cpu=True`` lets it through. A hub id is never a kit model, so this is asked before a download.

    Example:
        >>> from helpers.loading import refuse_full_size_on_cpu
        >>> from helpers import small_model_path
        >>> refuse_full_size_on_cpu(small_model_path())  # a kit model: fine anywhere
        >>> refuse_full_size_on_cpu("THUDM/CogVideoX-5b")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        helpers.loading.ModelLoadError: THUDM/CogVideoX-5b is a full-size model and this machine has no CUDA GPU: ...
        >>> refuse_full_size_on_cpu("THUDM/CogVideoX-5b", allow_cpu=True)
    """
    if allow_cpu or torch.cuda.is_available() or kit_model_kind(source):
        return
    fetched = "" if Path(source).is_dir() else " Nothing was downloaded."
    raise ModelLoadError(
        f"{source} is a full-size model and this machine has no CUDA GPU: on a CPU it needs "
        f"~40 GB of RAM in fp32 (counted from its 10.5 billion weights) and a very long time per clip.{fetched} Use the kit's CogVideoX-nano (MODEL = 'nano'), or a GPU "
        "runtime (Colab: Runtime > Change runtime type > T4 GPU); pass allow_cpu=True to try anyway.")


def default_dtype(folder: str | os.PathLike | None = None):
    """fp32 on CPU; on a CUDA GPU the dtype the model in ``folder`` was trained in (:mod:`helpers.family`): fp16
    for CogVideoX-2b, bf16 for the 5b models (fp16 gives them black/NaN frames) and without a ``folder``.

    Example:
        >>> from helpers.loading import default_dtype
        >>> default_dtype()
        torch.float32
    """
    if not torch.cuda.is_available():
        return torch.float32
    config = Path(folder or "") / "transformer" / "config.json"
    if folder is not None and config.is_file() and member_of(_read_json(config, "")).dtype == "float16":
        return torch.float16
    return torch.bfloat16


def load_pipeline(model: str | os.PathLike | None = None, torch_dtype=None, cache_dir=None, allow_cpu: bool = False,
                  task: str = "text"):
    """Load a CogVideoX pipeline for ``task`` ("text", "image" or "video" to video), chosen as :func:`choose_model` says.

    Local folders are checked first (:func:`check_model_folder`); hub ids are taken from the
    hub cache or downloaded (:func:`download_model`). The checkpoint must suit the task, which is
    read from its configs before any weight is loaded (:func:`helpers.image_video.check_task`).
    Loads safetensors only, never remote
    code. ``torch_dtype`` defaults to bf16 on a GPU and fp32 on CPU; on a GPU without a fused bf16
    attention kernel (a T4) the attention is computed in fp32 (:mod:`helpers.attention`). The
    pipeline stays on the CPU: apply a recipe (:func:`helpers.apply_recipe`) to place it.

    Example:
        >>> from helpers import load_pipeline
        >>> pipe = load_pipeline("small")  # doctest: +ELLIPSIS
        model: small local model (random weights: its videos are noise)  [argument]
          folder: ...
        >>> type(pipe).__name__
        'CogVideoXPipeline'
        >>> type(load_pipeline("nano", task="video")).__name__  # doctest: +ELLIPSIS
        model: ...
        'CogVideoXVideoToVideoPipeline'
    """
    import diffusers

    from .attention import use_fp32_attention_where_needed

    if isinstance(torch_dtype, str):  # diffusers ignores a dtype given as a string and loads fp32
        torch_dtype = getattr(torch, torch_dtype.strip().removeprefix("torch."), torch_dtype)
    if not (torch_dtype is None or isinstance(torch_dtype, torch.dtype)):
        raise ValueError(f"torch_dtype {torch_dtype!r}: give torch.bfloat16 (CogVideoX-5b's on a GPU), torch.float32 "
                         "(the CPU's) or torch.float16 (CogVideoX-2b's), or leave it out for the kit's choice.")
    folder = model_folder(model, cache_dir=cache_dir, allow_cpu=allow_cpu)
    check_task(folder, task)
    refuse_full_size_on_cpu(folder, allow_cpu)
    try:
        pipe = getattr(diffusers, PIPELINES[task]).from_pretrained(
            folder, dtype=torch_dtype or default_dtype(folder), use_safetensors=True
        )
    except (OSError, ValueError, KeyError, TypeError) as e:  # a missing file, a corrupt or mistyped config
        raise ModelLoadError(
            f"Loading {folder} failed: {str(e).splitlines()[0]}. Run helpers.check_model_folder on it, "
            "and download again what it names.") from None
    use_fp32_attention_where_needed(pipe.transformer)  # a T4: bf16 attention would hold the whole score matrix
    pipe.set_progress_bar_config(leave=False)
    return pipe


def show_environment(model: str | os.PathLike | None = None, notebook: str | None = None) -> EnvironmentReport:
    """Print the environment report and the model the notebooks will use; return the report.

    The standard last line of every notebook's first cell. ``model`` is chosen as in
    :func:`helpers.choose_model` (argument, else ``$COGVIDEOX_MODEL``, else automatic). It also
    prints where videos will be saved (:func:`helpers.outputs_dir`, made if missing) and its free
    space, so a ``COGVIDEOX_OUTPUTS`` that cannot be written raises here, before any generation,
    with what to change; so is a step count in ``COGVIDEOX_STEPS`` or ``COGVIDEOX_LORA_STEPS`` that is not a whole
    number of at least 1. In workshop mode it also prints what ``notebook`` took in that mode.

    Example:
        >>> import helpers
        >>> report = helpers.show_environment()  # doctest: +SKIP
        python                      3.11.7
        ...
        model: small local model (random weights)  [automatic: no CUDA GPU]
        outputs: /content/outputs  (70.3 GiB free)
    """
    from .checks import STEPS_ENV, env_step_count
    from .workshop import estimate, workshop_mode

    for name in (STEPS_ENV, "COGVIDEOX_LORA_STEPS"):  # read by the parameters cells: refused here, with the fix
        env_step_count(name)
    report = environment_report()
    print(report)
    print(f"model: {choose_model(model)}")
    outputs = outputs_dir()  # a COGVIDEOX_OUTPUTS that cannot be written is refused now, not after the generation
    print(f"outputs: {outputs}  ({free_disk_bytes(outputs) / GIB:.1f} GiB free)")
    if workshop_mode():
        print(estimate(notebook))
    return report
