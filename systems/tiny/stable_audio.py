"""A tiny ``StableAudioPipeline`` (Stable Audio Open 1.0's architecture) with random weights.

Every part is the released model's class (AutoencoderOobleck, T5 encoder and tokenizer,
StableAudioProjectionModel, StableAudioDiTModel) at a toy size, initialised from a fixed seed. Its
audio is noise: it tests the plumbing (shapes, rates, seeds, NFE, save/load) offline, nothing more.

Kept from the release: 44.1 kHz stereo output, the VAE's 2048-sample hop, T5's 128-token limit,
the duration conditioners' 0-512 s range, and the scheduler: ``CosineDPMSolverMultistepScheduler``
(SDE DPM-Solver++(2M), v-prediction, sigmas 0.3-500; one transformer call per step; its noise
comes from a Brownian tree seeded by each generator's ``initial_seed()``; needs ``torchsde``).
"""
from __future__ import annotations

import string
from typing import Any

import torch

SAMPLE_RATE = 44100
AUDIO_CHANNELS = 2
DOWNSAMPLING = (32, 64)
HOP = DOWNSAMPLING[0] * DOWNSAMPLING[1]  # 2048, as released
LATENT_CHANNELS = 8
SAMPLE_SIZE = 64  # latent frames: 64 * 2048 / 44100 = 2.97 s at most
TEXT_DIM = 16  # T5 width = conditioning width (the release projects text by identity too)
T5_MAX_LENGTH = 128
# common caption words get whole-word pieces; anything else splits into characters (unknown -> <unk>)
WORDS = ("a the of and in on with is to from by while an at water rain wind dog bird car engine "
         "man woman people music piano guitar drum bell door footsteps barking singing talking "
         "birds chirping waves crashing thunder loud soft distant").split()


def t5_tokenizer(max_length: int = T5_MAX_LENGTH) -> Any:
    """A T5 (unigram) tokenizer over a tiny vocabulary: caption words, then single characters."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -8.0)]
    vocab += [(c, -10.0) for c in string.ascii_letters + string.digits + string.punctuation]
    vocab += [("\u2581" + w, -5.0) for w in WORDS]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def t5_encoder(vocab_size: int, d_model: int) -> Any:
    """A one-layer T5 encoder of width ``d_model``."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(
        vocab_size=vocab_size, d_model=d_model, d_kv=8, d_ff=2 * d_model, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, relative_attention_max_distance=32, dropout_rate=0.0))


def _vae() -> Any:
    from diffusers import AutoencoderOobleck

    return AutoencoderOobleck(
        encoder_hidden_size=2 * LATENT_CHANNELS, downsampling_ratios=list(DOWNSAMPLING),
        channel_multiples=[1, 2], decoder_channels=8, decoder_input_channels=LATENT_CHANNELS,
        audio_channels=AUDIO_CHANNELS, sampling_rate=SAMPLE_RATE)


def _transformer() -> Any:
    from diffusers import StableAudioDiTModel

    return StableAudioDiTModel(
        sample_size=SAMPLE_SIZE, in_channels=LATENT_CHANNELS, num_layers=2, attention_head_dim=8,
        num_attention_heads=2, num_key_value_attention_heads=1, out_channels=LATENT_CHANNELS,
        cross_attention_dim=TEXT_DIM, time_proj_dim=16, global_states_input_dim=2 * TEXT_DIM,
        cross_attention_input_dim=TEXT_DIM)


def _scheduler() -> Any:
    from diffusers import CosineDPMSolverMultistepScheduler  # needs torchsde (the diffusers extra)

    return CosineDPMSolverMultistepScheduler(
        sigma_min=0.3, sigma_max=500.0, sigma_data=1.0, sigma_schedule="exponential",
        prediction_type="v_prediction", solver_order=2, final_sigmas_type="zero")


def build() -> Any:
    """The tiny pipeline: random weights from seed 0 (global RNG untouched), float32, eval mode."""
    from diffusers import StableAudioPipeline
    from diffusers.pipelines.stable_audio.modeling_stable_audio import StableAudioProjectionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tokenizer = t5_tokenizer()
        pipe = StableAudioPipeline(
            vae=_vae(), text_encoder=t5_encoder(len(tokenizer), TEXT_DIM),
            projection_model=StableAudioProjectionModel(
                text_encoder_dim=TEXT_DIM, conditioning_dim=TEXT_DIM, min_value=0, max_value=512),
            tokenizer=tokenizer, transformer=_transformer(), scheduler=_scheduler())
    for module in (pipe.vae, pipe.text_encoder, pipe.projection_model, pipe.transformer):
        module.eval()
    return pipe


def settings() -> dict[str, Any]:
    """What the build depends on (its cache key): the toy sizes and the library versions."""
    import diffusers
    import transformers

    return {"pipeline": "StableAudioPipeline", "sample_rate": SAMPLE_RATE, "audio_channels": AUDIO_CHANNELS,
            "downsampling": list(DOWNSAMPLING), "latent_channels": LATENT_CHANNELS,
            "sample_size": SAMPLE_SIZE, "max_seconds": SAMPLE_SIZE * HOP / SAMPLE_RATE,
            "text_dim": TEXT_DIM, "t5_max_length": T5_MAX_LENGTH, "words": len(WORDS),
            "scheduler": "CosineDPMSolverMultistepScheduler", "seed": 0,
            "diffusers": diffusers.__version__, "transformers": transformers.__version__}
