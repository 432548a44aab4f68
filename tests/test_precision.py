"""bf16 autocast + channels-last (the CPU speed settings) give the same losses as fp32, within a few %."""

import torch

from colorlab.models.checkpoints import load_model
from tests.test_module import smooth_batch


def test_bf16_channels_last_loss_is_within_a_few_percent_of_fp32(cli_sweep):
    model = load_model(cli_sweep / "0_baseline")
    lightness, ab = smooth_batch(8, 64)
    with torch.no_grad():
        fp32 = model.loss(model.decode_raw(*model.encode(lightness), None), ab).item()
        model.channels_last = True
        model.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model.loss(model.decode_raw(*model.encode(lightness), None), ab).item()
    assert abs(bf16 - fp32) / fp32 < 0.03, (fp32, bf16)
