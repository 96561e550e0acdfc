"""LAION-CLAP backends (package ``laion_clap``, pip extra ``clap``), deterministic by construction.

Audio embeddings follow fadtk's ``CLAPLaionModel`` (the FD convention): int16 quantisation
round-trip, then 10 s chunks every 1 s, each zero-padded to exactly 10 s, one 512-d frame per
chunk (a 10 s clip gives 10 frames). Because every chunk is exactly ``clip_samples`` long,
laion_clap's random ``rand_trunc``/``fusion`` crops are never reached: we call the model's
``get_audio_embedding`` on fixed chunks instead of ``get_audio_embedding_from_data``.
Option ``audio_input="clip"`` gives instead the one-vector input of CLAP-score toolkits
(stable-audio-metrics, gudgud96, non-fusion checkpoints): int16 round-trip, then the first 10 s
repeat-padded to 10 s (laion_clap random-crops longer audio; we take the first 10 s).

Layer features follow AudioEditingCode's CLAP-LPAPS (``evals/pretrained_networks.py``): mono,
no quantisation, the first 10 s repeat-padded to 10 s (laion_clap's ``repeatpad``), then the
outputs of the 4 Swin stages as [tokens, channels]. AudioEditingCode random-crops inputs longer
than 10 s; its windowing keeps inputs at <= 10 s, so taking the first 10 s is identical there
and deterministic elsewhere (windowing long audio is the metric's job).
"""
from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from metrics.embeddings.base import BackendUnavailable, EmbeddingBackend, install_hint

CLAP_SR = 48_000
CLIP_SAMPLES = 480_000  # laion_clap audio_cfg["clip_samples"]: 10 s at 48 kHz
HOP_SAMPLES = 48_000  # fadtk: one chunk per second
TEXT_BATCH = 64  # stable-audio-metrics embeds prompts 64 at a time
HF_BASE = "https://huggingface.co/lukewys/laion_clap/resolve/main/"
POSITION_IDS = "text_branch.embeddings.position_ids"


def int16_roundtrip(x: np.ndarray) -> np.ndarray:
    """[n] -> [n] float32 quantised like laion_clap (clip to +-1, x32767, truncate, /32767)."""
    q = (np.clip(np.asarray(x, np.float32), -1.0, 1.0) * np.float32(32767.0)).astype(np.int16)
    return (q / 32767.0).astype(np.float32)


def chunk_starts(n: int, hop: int = HOP_SAMPLES) -> np.ndarray:
    """Chunk start samples ``range(0, n, hop)`` as fadtk; an empty clip still gets one chunk."""
    return np.arange(0, max(n, 1), hop)


def take_chunks(x: np.ndarray, starts: np.ndarray, size: int = CLIP_SAMPLES) -> np.ndarray:
    """[n] -> [len(starts), size] float32 windows ``x[s:s+size]``, zero-padded at the end."""
    out = np.zeros((len(starts), size), np.float32)
    for row, s in zip(out, starts, strict=True):
        piece = x[s:s + size]
        row[:len(piece)] = piece
    return out


def repeat_pad(x: np.ndarray, size: int = CLIP_SAMPLES) -> np.ndarray:
    """[n <= size] -> [size]: laion_clap ``repeatpad`` (tile int(size/n) times, then zeros)."""
    out = np.zeros(size, np.float32)
    if len(x):
        tiled = np.tile(np.asarray(x, np.float32), size // len(x))
        out[:len(tiled)] = tiled
    return out


def lpaps_input(x: np.ndarray, size: int = CLIP_SAMPLES) -> np.ndarray:
    """[n] -> [size]: the first 10 s, repeat-padded (AudioEditingCode's CLAP-LPAPS input)."""
    return repeat_pad(np.asarray(x, np.float32)[:size], size)


def clean_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """Strip DDP's ``module.`` prefix; drop ``position_ids`` (LAION-AI/CLAP#118)."""
    out = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    out.pop(POSITION_IDS, None)
    return out


def laion_clap_dir() -> Path | None:
    """laion_clap's package folder, where its ``load_ckpt`` stores downloads (not imported)."""
    spec = importlib.util.find_spec("laion_clap")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A LAION checkpoint file -> cleaned state dict (tensors only when the pickle allows)."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # The released LAION files wrap the weights with training metadata (epoch, numpy
        # scalars) that the safe loader rejects; laion_clap itself loads them this way.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
    return clean_state_dict(state)


def load_into(model: Any, state: dict[str, Any], what: str) -> None:
    """Load ``state`` strictly, except the ``position_ids`` buffer old transformers expect."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != POSITION_IDS]
    if missing or unexpected:
        raise BackendUnavailable(f"{what} does not fit this architecture: missing {missing[:4]}, "
                                 f"unexpected {unexpected[:4]}")


class ClapLaionBackend(EmbeddingBackend):
    """LAION-CLAP audio and text towers; subclasses fix the architecture and checkpoint."""

    sample_rate = CLAP_SR
    dim = 512
    provides = frozenset({"embedding", "text", "layers"})
    version = "1"
    amodel: ClassVar[str]
    checkpoint: ClassVar[str]
    env_var: ClassVar[str]
    #: laion_clap's own ``load_ckpt(model_id=...)`` download for this checkpoint, if it has one
    laion_model_id: ClassVar[int | None] = None

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.audio_input = str(options.get("audio_input", "chunks"))
        if self.audio_input not in ("chunks", "clip"):
            raise ValueError(f"{self.name}: audio_input must be 'chunks' or 'clip', "
                             f"got {self.audio_input!r}")
        self._clap: Any = None

    @classmethod
    def weights_hint(cls) -> str:
        return (f"{cls.name} needs the checkpoint {cls.checkpoint} ({HF_BASE}{cls.checkpoint}): "
                f"pass weights=PATH, set {cls.env_var}=PATH, or put it in laion_clap's package "
                "folder; with internet, load() downloads it there")

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(can run here, why not); True with a note when load() would have to download."""
        if laion_clap_dir() is None:
            return False, (f"{cls.name}: laion_clap is not installed; "
                           f"{install_hint('clap', 'laion-clap')}. {cls.weights_hint()}")
        env = os.environ.get(cls.env_var)
        if env and not Path(env).is_file():
            return False, f"{cls.env_var}={env} is not a file. {cls.weights_hint()}"
        if not cls._default_weights().is_file():
            return True, f"weights not cached; load() will download them. {cls.weights_hint()}"
        return True, ""

    @classmethod
    def _default_weights(cls) -> Path:
        env = os.environ.get(cls.env_var)
        return Path(env) if env else (laion_clap_dir() or Path(".")) / cls.checkpoint

    def weights_path(self) -> Path:
        """Option ``weights``, else the env var, else laion_clap's download location."""
        opt = self.options.get("weights")
        return Path(opt).expanduser() if opt else self._default_weights()

    def load(self, device: str = "cpu") -> None:
        laion_clap = self._import()
        path = self.weights_path()
        if (self.options.get("weights") or os.environ.get(self.env_var)) and not path.is_file():
            raise BackendUnavailable(f"{path} does not exist. {self.weights_hint()}")
        try:  # builds roberta-base from the Hugging Face hub cache (downloaded once)
            clap = laion_clap.CLAP_Module(enable_fusion=False, amodel=self.amodel, device=device)
        except OSError as e:
            raise BackendUnavailable(f"{self.name}: laion_clap could not build its text tower "
                                     f"(roberta-base from the Hugging Face hub): {e}") from e
        if path.is_file():
            load_into(clap.model, read_checkpoint(path), str(path))
        else:
            self._download(clap, path)
        clap.eval()
        self._clap, self.device = clap, device

    def _import(self) -> Any:
        """The laion_clap module, or BackendUnavailable saying what is missing."""
        try:
            import laion_clap
        except ImportError as e:
            raise BackendUnavailable(f"{self.name}: cannot import laion_clap ({e}); "
                                     f"{install_hint('clap', 'laion-clap')}") from e
        except OSError as e:  # its training/data.py fetches 3 tokenizers at import time
            raise BackendUnavailable(f"{self.name}: importing laion_clap needs the bert-base-"
                                     "uncased, roberta-base and facebook/bart-base tokenizers "
                                     f"from the Hugging Face hub (cached after one online run): {e}"
                                     ) from e
        return laion_clap

    def _download(self, clap: Any, path: Path) -> None:
        """Fetch the checkpoint into laion_clap's folder (needs internet), then load it."""
        try:
            if self.laion_model_id is not None:
                clap.load_ckpt(model_id=self.laion_model_id, verbose=False)
                return
            import torch

            torch.hub.download_url_to_file(HF_BASE + self.checkpoint, str(path))
        except OSError as e:
            raise BackendUnavailable(f"download failed ({e}). {self.weights_hint()}") from e
        load_into(clap.model, read_checkpoint(path), str(path))

    def _loaded(self) -> Any:
        if self._clap is None:
            raise BackendUnavailable(f"{self.name}: call load() before embedding")
        return self._clap

    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        """Mono [n] clips at 48 kHz -> {"embedding": [chunks, 512], "layers": 4 x [N, C]}."""
        out = []
        for clip in clips:
            x = np.asarray(clip, np.float32)
            x = x.mean(axis=0) if x.ndim == 2 else x
            item: dict[str, Any] = {"embedding": self._audio_embeddings(x)}
            if "layers" in want:
                item["layers"] = self._swin_layers(x)
            out.append(item)
        return out

    def _audio_embeddings(self, x: np.ndarray) -> np.ndarray:
        """[n] -> [ceil(n / 1 s), 512] (fadtk chunks) or [1, 512] ("clip"), L2-normalised."""
        x = int16_roundtrip(x)
        if self.audio_input == "clip":
            return self._project(lpaps_input(x)[None])
        starts, batch = chunk_starts(len(x)), int(self.options.get("batch_size", 8))
        return np.concatenate([self._project(take_chunks(x, starts[i:i + batch]))
                               for i in range(0, len(starts), batch)])

    def _project(self, chunks: np.ndarray) -> np.ndarray:
        """[b, 480000] -> [b, 512] projected embeddings."""
        import torch

        # Exactly clip_samples per row: laion_clap's random crop/fusion paths are never reached.
        data = [{"waveform": c, "longer": torch.tensor([False])} for c in torch.from_numpy(chunks)]
        with torch.no_grad():
            return self._loaded().model.get_audio_embedding(data).float().cpu().numpy()

    def _swin_layers(self, x: np.ndarray) -> list[np.ndarray]:
        """[n] -> the 4 Swin stage outputs [tokens, channels] for CLAP-LPAPS."""
        import torch

        model = self._loaded().model
        wav = torch.from_numpy(lpaps_input(x))[None].to(self.device)
        captured: list[Any] = []
        hooks = [layer.register_forward_hook(lambda _m, _i, out: captured.append(out[0]))
                 for layer in model.audio_branch.layers]
        try:
            with torch.no_grad():
                model.encode_audio({"waveform": wav, "longer": torch.tensor([False])},
                                   device=self.device)
        finally:
            for h in hooks:
                h.remove()
        return [t[0].float().cpu().numpy() for t in captured]

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), 512] L2-normalised text embeddings (RoBERTa tower)."""
        import torch

        clap, texts = self._loaded(), list(texts)
        out = [np.zeros((0, self.dim), np.float32)]
        for i in range(0, len(texts), TEXT_BATCH):
            with torch.no_grad():
                emb = clap.get_text_embedding(texts[i:i + TEXT_BATCH], use_tensor=True)
            out.append(emb.float().cpu().numpy())
        return np.concatenate(out)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["options"] = {k: v for k, v in cfg["options"].items()
                          if k not in ("weights", "batch_size")}  # path/batching: no effect
        path = self.weights_path()
        cfg.update(amodel=self.amodel, fusion=False, checkpoint=path.name,
                   weights_sha256=self.weights_sha256(),
                   quantise="int16", audio_input=self.audio_input,
                   chunk_s=CLIP_SAMPLES / CLAP_SR, hop_s=HOP_SAMPLES / CLAP_SR,
                   chunk_fill="zero" if self.audio_input == "chunks" else "first 10 s, repeatpad",
                   layers_input="first 10 s, repeatpad, no quantisation")
        return cfg
