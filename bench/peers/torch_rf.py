"""PyTorch port of lzn's rectified-flow decoder (decoders/unet.ts, unet_blocks.ts, time_embedding.ts, rf_loss.ts),
for the joint recipe's step in torch_steps.py. Ported from the TypeScript sources, structure for structure:

  * conditioning: [latent (q), one-hot class (C), timestep embedding] -> Linear -> SiLU -> Linear -> SiLU;
    the embedding is [sin, cos] of 999 clamp(t, 0, 1) times exp(-ln(10^4) k / (half - 1));
  * ResBlock: GroupNorm(eps 1e-6) -> SiLU -> Conv3x3 -> + Linear(cond) per channel -> GroupNorm -> SiLU -> Conv3x3,
    a 1x1 conv on the skip path when the width changes, (skip + h) / sqrt(2);
  * attention between the two middle ResBlocks: GroupNorm -> 1x1 q, k, v -> softmax(q^T k / sqrt(C)) -> 1x1 out,
    (x + out) / sqrt(2);
  * U-Net: Conv3x3 in; per level `res_blocks` ResBlocks, 2x2 average pooling between levels; the up path reads the
    skips back with `res_blocks + 1` ResBlocks per level and nearest 2x upsampling + Conv3x3; GroupNorm -> SiLU ->
    Conv3x3 out; GroupNorm groups min(C / 4, 32), lowered until they divide C (rf_config.ts normGroups);
  * RF loss: t = 1e-3 + (1 - 1e-3) u, x_t = t x + (1 - t) n, target x - n, mean squared error.
Initialisation is PyTorch's default (lzn's DDPM-style init and zero-initialised output convs are not ported: they do
not change the step's cost).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

RF_EPS = 1e-3
INV_SQRT2 = math.sqrt(0.5)


def norm_groups(c):
    g = max(1, min(c // 4, 32))
    while c % g:
        g -= 1
    return g


def group_norm(c):
    return nn.GroupNorm(norm_groups(c), c, eps=1e-6)


def timestep_embedding(t, dim):
    half = dim // 2
    k = torch.arange(half, device=t.device, dtype=t.dtype)
    freqs = torch.exp(-math.log(10000) * k / (half - 1))
    angle = (t.clamp(0, 1) * 999)[:, None] * freqs[None]
    return torch.cat([angle.sin(), angle.cos()], 1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, cond_dim):
        super().__init__()
        self.norm0, self.conv0 = group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.dense = nn.Linear(cond_dim, cout)
        self.norm1, self.conv1 = group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = None if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, cond):
        h = self.conv0(F.silu(self.norm0(x))) + self.dense(cond)[:, :, None, None]
        h = self.conv1(F.silu(self.norm1(h)))
        return ((x if self.skip is None else self.skip(x)) + h) * INV_SQRT2


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = group_norm(c)
        self.query, self.key, self.value, self.out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.norm(x)
        q, k, v = (m(h).reshape(b, c, hh * ww) for m in (self.query, self.key, self.value))
        w = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=-1)  # [B, N(query), N(key)]
        mixed = (v @ w.transpose(1, 2)).reshape(b, c, hh, ww)
        return (x + self.out(mixed)) * INV_SQRT2


class RfUNet(nn.Module):
    def __init__(self, latent_dim=32, classes=10, channels=(32, 64, 64), res_blocks=2, cond_dim=128, temb=32,
                 attention=True):
        super().__init__()
        self.temb, self.channels, self.res_blocks = temb, channels, res_blocks
        self.cond_in = nn.Linear(latent_dim + classes + temb, cond_dim)
        self.cond_hidden = nn.Linear(cond_dim, cond_dim)
        self.conv_in = nn.Conv2d(1, channels[0], 3, padding=1)
        skips, c = [channels[0]], channels[0]
        self.down = nn.ModuleList()
        for level, w in enumerate(channels):
            for _ in range(res_blocks):
                self.down.append(ResBlock(c, w, cond_dim))
                c = w
                skips.append(c)
            if level < len(channels) - 1:
                skips.append(c)
        self.middle = nn.ModuleList([ResBlock(c, c, cond_dim), ResBlock(c, c, cond_dim)])
        self.attention = Attention(c) if attention else None
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level in range(len(channels) - 1, -1, -1):
            for _ in range(res_blocks + 1):
                self.up.append(ResBlock(c + skips.pop(), channels[level], cond_dim))
                c = channels[level]
            if level > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
        self.norm_out, self.conv_out = group_norm(c), nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x, t, latents, onehot):
        e = torch.cat([latents, onehot, timestep_embedding(t, self.temb)], 1)
        e = F.silu(self.cond_hidden(F.silu(self.cond_in(e))))
        h = self.conv_in(x)
        skips, k = [h], 0
        for level in range(len(self.channels)):
            for _ in range(self.res_blocks):
                h = self.down[k](h, e)
                k += 1
                skips.append(h)
            if level < len(self.channels) - 1:
                h = F.avg_pool2d(h, 2)
                skips.append(h)
        h = self.middle[0](h, e)
        if self.attention is not None:
            h = self.attention(h)
        h = self.middle[1](h, e)
        k = u = 0
        for level in range(len(self.channels) - 1, -1, -1):
            for _ in range(self.res_blocks + 1):
                h = self.up[k](torch.cat([h, skips.pop()], 1), e)
                k += 1
            if level > 0:
                h = self.upsample[u](F.interpolate(h, scale_factor=2, mode="nearest"))
                u += 1
        return self.conv_out(F.silu(self.norm_out(h)))


def rf_loss(net, images, u, noise, latents, onehot):
    """RF loss of rf_loss.ts with the step's uniform draws `u` [B] and image noise given (made outside a graph)."""
    t = u * (1 - RF_EPS) + RF_EPS
    ti = t[:, None, None, None]
    xt = images * ti + noise * (1 - ti)
    return (net(xt, t, latents, onehot) - (images - noise)).square().mean()
