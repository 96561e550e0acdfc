"""A tiny ``AudioLDMPipeline`` (AudioLDM's architecture, e.g. cvssp/audioldm-s-full-v2) with random weights.

Every part is the released model's class (mel-spectrogram AutoencoderKL, CLAP text encoder with
projection and its byte-level RoBERTa tokenizer, UNet2DConditionModel conditioned through its class
embedding, DDIMScheduler, SpeechT5HifiGan vocoder) at a toy size, initialised from a fixed seed. Its
audio is noise: it tests the plumbing (shapes, rates, seeds, NFE, save/load) offline, nothing more.

Kept from the release: 16 kHz output, 64 mel bins at a 160-sample hop (100 frames per second), a
VAE that downsamples by 4 into 8 latent channels, the default length (unet ``sample_size`` 128:
5.12 s) and the DDIM scheduler's betas. The builders here are shared with ``tiny/audioldm2.py``.
"""
from __future__ import annotations

from typing import Any

import torch
from tokenizers import pre_tokenizers

from systems.tiny.stable_audio import WORDS

SAMPLE_RATE = 16000
MEL_BINS = 64
UPSAMPLE_RATES = (5, 4, 2, 2, 2)  # hop 160
LATENT_CHANNELS = 8
VAE_CHANNELS = (8, 16, 16)  # three levels: the latent is 4x smaller in time and frequency
ROBERTA_MAX_LENGTH = 77
CLAP_DIM = 16


def roberta_tokenizer(max_length: int = ROBERTA_MAX_LENGTH) -> Any:
    """A byte-level BPE RoBERTa tokenizer: the 256 byte symbols (so any text encodes) plus merges that
    make common caption words single tokens."""
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        for form in (word, "\u0120" + word):  # \u0120: byte-level BPE's mark for a leading space
            piece = form[0]
            for ch in form[1:]:
                if (piece, ch) not in merges:
                    merges.append((piece, ch))
                piece += ch
                vocab.setdefault(piece, len(vocab))
    vocab["<mask>"] = len(vocab)
    return RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def clap_text_config(vocab_size: int) -> Any:
    """A one-layer CLAP text tower (RoBERTa) projecting to ``CLAP_DIM``."""
    from transformers import ClapTextConfig

    return ClapTextConfig(
        vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=ROBERTA_MAX_LENGTH + 2, projection_dim=CLAP_DIM)


def mel_vae() -> Any:
    """An AutoencoderKL over one-channel mel spectrograms: 4x down, ``LATENT_CHANNELS`` latents."""
    from diffusers import AutoencoderKL

    n = len(VAE_CHANNELS)
    return AutoencoderKL(
        in_channels=1, out_channels=1, latent_channels=LATENT_CHANNELS, block_out_channels=VAE_CHANNELS,
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        layers_per_block=1, norm_num_groups=4)


def vocoder() -> Any:
    """A HiFi-GAN from ``MEL_BINS`` mel bins to ``SAMPLE_RATE`` audio (160 samples per frame)."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    return SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=MEL_BINS, sampling_rate=SAMPLE_RATE, upsample_initial_channel=32,
        upsample_rates=list(UPSAMPLE_RATES), upsample_kernel_sizes=[16, 16, 8, 4, 4],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], normalize_before=False,
        initializer_range=0.15))  # the default 0.01 makes a toy-width vocoder output ~1e-9


def ddim() -> Any:
    """The releases' DDIM scheduler (epsilon prediction, scaled-linear betas 0.0015-0.0195)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")


def _unet() -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=128, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS,
        block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8, attention_head_dim=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=(16, 32),  # no text sequence: these "cross" attentions attend to themselves
        class_embed_type="simple_projection", projection_class_embeddings_input_dim=CLAP_DIM,
        class_embeddings_concat=True)


def build() -> Any:
    """The tiny pipeline: random weights from seed 0 (global RNG untouched), float32, eval mode."""
    from diffusers import AudioLDMPipeline
    from transformers import ClapTextModelWithProjection

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tokenizer = roberta_tokenizer()
        pipe = AudioLDMPipeline(
            vae=mel_vae(), text_encoder=ClapTextModelWithProjection(clap_text_config(len(tokenizer))),
            tokenizer=tokenizer, unet=_unet(), scheduler=ddim(), vocoder=vocoder())
    for module in (pipe.vae, pipe.text_encoder, pipe.unet, pipe.vocoder):
        module.eval()
    return pipe


def settings() -> dict[str, Any]:
    """What the build depends on (its cache key): the toy sizes and the library versions."""
    import diffusers
    import transformers

    return {"pipeline": "AudioLDMPipeline", "sample_rate": SAMPLE_RATE, "mel_bins": MEL_BINS,
            "upsample_rates": list(UPSAMPLE_RATES), "latent_channels": LATENT_CHANNELS,
            "vae_channels": list(VAE_CHANNELS), "unet_channels": [16, 32], "clap_dim": CLAP_DIM,
            "roberta_max_length": ROBERTA_MAX_LENGTH, "words": len(WORDS), "scheduler": "DDIMScheduler",
            "seed": 0, "diffusers": diffusers.__version__, "transformers": transformers.__version__}
