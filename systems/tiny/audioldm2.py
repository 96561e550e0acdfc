"""A tiny ``AudioLDM2Pipeline`` (AudioLDM 2's architecture, e.g. cvssp/audioldm2) with random weights.

Every part is the released model's class (mel-spectrogram AutoencoderKL, CLAP with its RoBERTa
tokenizer and feature extractor, T5 encoder and tokenizer, AudioLDM2ProjectionModel, GPT-2,
AudioLDM2UNet2DConditionModel, DDIMScheduler, SpeechT5HifiGan vocoder) at a toy size, initialised
from a fixed seed. Its audio is noise: it tests the plumbing (shapes, rates, seeds, NFE, save/load)
offline, nothing more.

Kept from the release: 16 kHz output, 64 mel bins at a 160-sample hop, the 4x VAE with 8 latent
channels, the default length (unet ``sample_size`` 256: 10.24 s), GPT-2 generating 8 hidden states
per prompt (``language_model.config.max_new_tokens``), T5's 512-token limit, the DDIM scheduler.

The pipeline (released or tiny) is batch-dependent: T5 pads to the batch's longest prompt and GPT-2's
positions ignore the padding, so a prompt's audio changes with the other prompts' T5 token counts
unless they are equal (or it is generated alone).
"""
from __future__ import annotations

from typing import Any

import torch

from systems.tiny import audioldm as ldm
from systems.tiny.stable_audio import WORDS, t5_encoder, t5_tokenizer

T5_DIM = 32
T5_MAX_LENGTH = 512
GPT2_DIM = 16
MAX_NEW_TOKENS = 8


def _clap(vocab_size: int) -> Any:
    """CLAP: the text tower encodes prompts; the (tiny HTSAT) audio tower only ranks waveforms when
    ``num_waveforms_per_prompt > 1``."""
    from transformers import ClapAudioConfig, ClapConfig, ClapModel

    audio = ClapAudioConfig(
        spec_size=256, num_mel_bins=ldm.MEL_BINS, window_size=8, patch_size=4, patch_stride=(4, 4),
        depths=(1, 1), num_attention_heads=(2, 2), patch_embeds_hidden_size=8, hidden_size=16,
        num_classes=8, enable_fusion=False)
    text = ldm.clap_text_config(vocab_size)
    config = ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=ldm.CLAP_DIM)
    return ClapModel(config)


def _feature_extractor() -> Any:
    from transformers import ClapFeatureExtractor

    return ClapFeatureExtractor(feature_size=ldm.MEL_BINS, sampling_rate=48000, truncation="rand_trunc")


def _language_model() -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(
        vocab_size=64, n_positions=1024, n_embd=GPT2_DIM, n_layer=1, n_head=2, bos_token_id=0,
        eos_token_id=0, max_new_tokens=MAX_NEW_TOKENS))


def _unet() -> Any:
    from diffusers import AudioLDM2UNet2DConditionModel

    # per block: self-attention, cross-attention to GPT-2's states, then to T5's
    cross = ([None, GPT2_DIM, T5_DIM],) * 2
    return AudioLDM2UNet2DConditionModel(
        sample_size=256, in_channels=ldm.LATENT_CHANNELS, out_channels=ldm.LATENT_CHANNELS,
        block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8, attention_head_dim=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=cross)


def build() -> Any:
    """The tiny pipeline: random weights from seed 0 (global RNG untouched), float32, eval mode."""
    from diffusers import AudioLDM2Pipeline, AudioLDM2ProjectionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tokenizer, tokenizer_2 = ldm.roberta_tokenizer(), t5_tokenizer(T5_MAX_LENGTH)
        pipe = AudioLDM2Pipeline(
            vae=ldm.mel_vae(), text_encoder=_clap(len(tokenizer)),
            text_encoder_2=t5_encoder(len(tokenizer_2), T5_DIM),
            projection_model=AudioLDM2ProjectionModel(
                text_encoder_dim=ldm.CLAP_DIM, text_encoder_1_dim=T5_DIM, langauge_model_dim=GPT2_DIM),
            language_model=_language_model(), tokenizer=tokenizer, tokenizer_2=tokenizer_2,
            feature_extractor=_feature_extractor(), unet=_unet(), scheduler=ldm.ddim(), vocoder=ldm.vocoder())
    for module in (pipe.vae, pipe.text_encoder, pipe.text_encoder_2, pipe.projection_model,
                   pipe.language_model, pipe.unet, pipe.vocoder):
        module.eval()
    return pipe


def settings() -> dict[str, Any]:
    """What the build depends on (its cache key): the toy sizes and the library versions."""
    import diffusers
    import transformers

    return {"pipeline": "AudioLDM2Pipeline", "sample_rate": ldm.SAMPLE_RATE, "mel_bins": ldm.MEL_BINS,
            "latent_channels": ldm.LATENT_CHANNELS, "unet_channels": [16, 32], "clap_dim": ldm.CLAP_DIM,
            "t5_dim": T5_DIM, "gpt2_dim": GPT2_DIM, "max_new_tokens": MAX_NEW_TOKENS,
            "roberta_max_length": ldm.ROBERTA_MAX_LENGTH, "t5_max_length": T5_MAX_LENGTH, "words": len(WORDS),
            "scheduler": "DDIMScheduler", "seed": 0,
            "diffusers": diffusers.__version__, "transformers": transformers.__version__}
