"""Diagnostics of stylegan-lite's mode collapse (issue 3): train variants, count digit classes as they go.

This is a research script, not part of the product. The flags were written against the
plugin as it was when the collapse was diagnosed (commit cec0c96: StyleGAN2's skip outputs,
bilinear upsampling, style biases of 1, a 4-layer mapping); to reproduce those runs, first
``git checkout cec0c96 -- plugins/stylegan_lite.py``. On the current plugin ``base`` (no
flags) monitors the shipped model; flags that patch the synthesis network assume the old one. Each variant is made by patching
``ganzoo_plugins.stylegan_lite_nets`` (the plugin's networks and builder; ``plugins/stylegan_lite.py``
before they moved) before the run starts (flags below), so that the plugin itself
stays the faithful StyleGAN2-lite it documents. Every 50 steps the script samples 256 fixed z
from G and from the EMA generator (eval mode) and prints what the shipped LeNet sees:

- ``ncls``: classes with at least 3 samples classified with confidence >= 0.9 (real data: 10);
- ``conf``: share of samples classified with confidence >= 0.9;
- ``top``: share of the confident samples in the most common class (1.0 = one digit);
- ``pdist``: mean pairwise L2 distance of 64 samples / sqrt(pixels) (falls as samples converge).

Usage (about 0.25 s per step on one thread; two runs side by side on the 2-core machine)::

    OMP_NUM_THREADS=1 python benchmarks/stylegan_collapse.py FLAGS OUT_DIR STEPS [key=value ...] > OUT_DIR.log
    python benchmarks/stylegan_collapse.py --summary OUT_DIR.log ...

FLAGS is a comma-separated list (``base`` for none); ``key=value`` are ``--set`` options.
Flags used in the runs reported in the plugin's docstring:

- ``progG``: ProGAN-lite's generator (non-growing, z through a dense 4x4 layer) in place of
  the style-based one; ``pgmap`` puts a mapping network (``mapping_depth`` layers, lr_mul
  ``maplr``, default 0.01) in front of it;
- ``zin``: a z-dependent 4x4 input (a dense layer of w) instead of the learned constant;
  ``zraw`` feeds it pixel-normalised z instead of w (bypasses the mapping network);
- ``nomod``: styles fixed at s = 1 (affines zeroed and frozen): no modulation at all;
- ``nonoise``: noise inputs removed (strength a zero buffer);
- ``noskip``: one tRGB at 32x32 instead of skip outputs at every resolution;
- ``nearest``: nearest-neighbour upsampling instead of bilinear;
- ``pixnorm``: pixel norm after every styled conv;
- ``szc:N`` with ``wcent``: the first N styled convs' style biases set to ``szb`` (default 0) and the
  affines reading w - w_avg (the fix the plugin now ships, with N = 3 and 0.25);
- ``afflr:M``, ``affgain:G``, ``affb:B``, ``constlr:M``, ``constscale:S``,
  ``blr:M``, ``rgbgain:G``, ``pl:W``: style-affine learning rate / init, affine bias,
  w centring, per-layer bias and constant learning rates, tRGB init, path-length regularisation.
"""

import sys, math, torch, ganzoo, ganzoo.api as api

if sys.argv[1] == "--summary":
    import ast
    for log in sys.argv[2:]:
        print(log)
        for line in open(log):
            if not line[0].isdigit():
                continue
            step, d = line.split(" ", 1)
            d = ast.literal_eval(d)
            print(f"  step {step:>5}  G: ncls {d['ncls/G']} conf {d['conf/G']:.2f} top {d['top/G']:.2f}"
                  f"  EMA: ncls {d['ncls/G_ema']} conf {d['conf/G_ema']:.2f} top {d['top/G_ema']:.2f} pdist {d['pdist/G_ema']:.2f}")
    sys.exit(0)
import torch.nn.functional as F
import ganzoo_plugins.stylegan_lite_nets as sg  # the networks and the builder, whose names the flags replace
variant, out = sys.argv[1], sys.argv[2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 400
flags = {}
for f in variant.split(","):
    k, _, v = f.partition(":"); flags[k] = float(v) if v else True

if "wcent" in flags:  # affine sees w - w_avg (reparameterisation: bias absorbs A*w_avg)
    def mcf(self, x, w):
        s = self.affine(w - self._G_w_avg()) ; weight = self.weight * self.scale
        out = F.conv2d(x * s[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:
            d = torch.rsqrt(s.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8); out = out * d[:, :, None, None]
        return out
    sg.ModulatedConv2d.forward = mcf
    origG = sg.StyleGenerator.__init__
    def gi(self, *a, **k):
        origG(self, *a, **k)
        for m in self.modules():
            if isinstance(m, sg.ModulatedConv2d):
                m._G_w_avg = (lambda G=self: G.w_avg.detach())
    sg.StyleGenerator.__init__ = gi
if "affgain" in flags:  # scale affine weights at init
    g = flags["affgain"]; origM = sg.ModulatedConv2d.__init__
    def mi(self, *a, **k):
        origM(self, *a, **k)
        with torch.no_grad(): self.affine.weight.mul_(g)
    sg.ModulatedConv2d.__init__ = mi
if "afflr" in flags:  # lr_mul for affine layers (weights stored /lr_mul, as EqualizedLinear does)
    lm = flags["afflr"]; origM2 = sg.ModulatedConv2d.__init__
    def mi2(self, i, o, k, w_dim, demodulate=True):
        origM2(self, i, o, k, w_dim, demodulate)
        self.affine = sg.EqualizedLinear(w_dim, i, bias_init=1.0, lr_mul=lm)
    sg.ModulatedConv2d.__init__ = mi2
if "constscale" in flags:
    cs = flags["constscale"]; origG2 = sg.StyleGenerator.__init__
    def gi2(self, *a, **k):
        origG2(self, *a, **k)
        with torch.no_grad(): self.const.mul_(cs)
    sg.StyleGenerator.__init__ = gi2
if "blr" in flags:  # lr multiplier for StyledConv biases (effective bias = param * m)
    bm = flags["blr"]
    def scf(self, x, w):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.conv(x, w)
        n, _, h, width = x.shape
        noise = torch.randn(n, 1, h, width, device=x.device) if self.training else self.noise_const
        x = x + self.noise_strength[None, :, None, None] * noise
        return sg.lrelu(x + bm * self.bias[None, :, None, None])
    sg.StyledConv.forward = scf
if "constlr" in flags:  # lr multiplier for the learned constant (stored /m, used *m)
    cm = flags["constlr"]; origG3 = sg.StyleGenerator.__init__
    def gi3(self, *a, **k):
        origG3(self, *a, **k)
        with torch.no_grad(): self.const.div_(cm)
    sg.StyleGenerator.__init__ = gi3
    def syn3(self, ws):
        x = self.const.expand(ws.shape[0], -1, -1, -1) * cm
        x = self.convs[0](x, ws[:, 0])
        rgb = self.to_rgbs[0](x, ws[:, 1])
        for i, to_rgb in enumerate(self.to_rgbs[1:]):
            slot = 2 * i + 1
            x = self.convs[slot](x, ws[:, slot]); x = self.convs[slot + 1](x, ws[:, slot + 1])
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(x, ws[:, slot + 2])
        return rgb
    sg.StyleGenerator.synthesis = syn3
if "progG" in flags:
    from ganzoo_plugins.progan_lite_nets import ProGenerator
    class PG(ProGenerator):
        num_ws = 8
        def __init__(self, latent_dim, w_dim, mapping_depth, channels, out_channels, w_avg_beta=0.995):
            super().__init__(latent_dim, out_channels, 32, 32); self.grow_to(3, 1.0)
            if "pgmap" in flags:
                self.mapping = sg.MappingNetwork(latent_dim, latent_dim, mapping_depth, lr_mul=flags.get("maplr", 0.01))
        def forward(self, z, truncation=None, z_mix=None, crossover=None):
            return super().forward(self.mapping(z) if "pgmap" in flags else z)
    sg.StyleGenerator = PG
if "pixnorm" in flags:
    origSF = sg.StyledConv.forward
    pn = sg.PixelNorm()
    sg.StyledConv.forward = lambda self, x, w: pn(origSF(self, x, w))
if "rgbgain" in flags:
    rg = flags["rgbgain"]; origR = sg.ToRGB.__init__
    def ri(self, *a, **k):
        origR(self, *a, **k)
        with torch.no_grad(): self.conv.weight.mul_(rg)
    sg.ToRGB.__init__ = ri
if "affb" in flags:  # affine bias init value affb, bias lr multiplier abl
    binit = flags["affb"]; blm = flags.get("abl", 1.0)
    class Aff(torch.nn.Module):
        def __init__(self, w_dim, n):
            super().__init__()
            self.lin = sg.EqualizedLinear(w_dim, n, bias=False)
            self.b = torch.nn.Parameter(torch.full((n,), binit / blm))
            self.lr_mul = 1.0
        @property
        def weight(self): return self.lin.weight
        @property
        def bias(self): return self.b * blm
        def forward(self, w): return self.lin(w) + self.b * blm
    origM3 = sg.ModulatedConv2d.__init__
    def mi3(self, i, o, k, w_dim, demodulate=True):
        origM3(self, i, o, k, w_dim, demodulate); self.affine = Aff(w_dim, i)
    sg.ModulatedConv2d.__init__ = mi3
if "szc" in flags:  # affine bias 0 (zero-mean styles with wcent) for the first szc styled convs (coarse layers)
    nz = int(flags["szc"]) if flags["szc"] is not True else 3; origG4 = sg.StyleGenerator.__init__
    def gi4(self, *a, **k):
        origG4(self, *a, **k)
        with torch.no_grad():
            for c in self.convs[:nz]: c.conv.affine.bias.fill_(flags.get("szb", 0.0))
    sg.StyleGenerator.__init__ = gi4
if "zin" in flags or "noskip" in flags:  # DIAGNOSTIC ONLY: z-dependent 4x4 input from w (StyleGAN1's "traditional" input) instead of the const
    origG5 = sg.StyleGenerator.__init__
    def gi5(self, latent_dim, w_dim, mapping_depth, channels, *a, **k):
        origG5(self, latent_dim, w_dim, mapping_depth, channels, *a, **k)
        self.zin = sg.EqualizedLinear(w_dim, channels[4] * 16)
    sg.StyleGenerator.__init__ = gi5
    def syn5(self, ws):
        x = self.zin(self._zraw if "zraw" in flags else ws[:, 0]).view(ws.shape[0], -1, 4, 4) if "zin" in flags else self.const.expand(ws.shape[0], -1, -1, -1)
        if "pnin" in flags: x = sg.PixelNorm()(sg.lrelu(x))
        x = self.convs[0](x, ws[:, 0])
        if "noskip" in flags:
            for i in range(len(self.to_rgbs) - 1):
                slot = 2 * i + 1
                x = self.convs[slot](x, ws[:, slot]); x = self.convs[slot + 1](x, ws[:, slot + 1])
            return self.to_rgbs[-1](x, ws[:, -1])
        rgb = self.to_rgbs[0](x, ws[:, 1])
        for i, to_rgb in enumerate(self.to_rgbs[1:]):
            slot = 2 * i + 1
            x = self.convs[slot](x, ws[:, slot]); x = self.convs[slot + 1](x, ws[:, slot + 1])
            rgb = sg.F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(x, ws[:, slot + 2])
        return rgb
    sg.StyleGenerator.synthesis = syn5
    origfwd5 = sg.StyleGenerator.forward
    def fwd5(self, z, *a, **k):
        self._zraw = sg.PixelNorm()(z); return origfwd5(self, z, *a, **k)
    sg.StyleGenerator.forward = fwd5
if "nomod" in flags:  # s == 1: affines zeroed and frozen (the trainer respects requires_grad False)
    origG6 = sg.StyleGenerator.__init__
    def gi6(self, *a, **k):
        origG6(self, *a, **k)
        for m in self.modules():
            if isinstance(m, sg.ModulatedConv2d):
                with torch.no_grad():
                    m.affine.weight.zero_(); m.affine.bias.fill_(1.0 / m.affine.lr_mul)
                m.affine.weight.requires_grad_(False); m.affine.bias.requires_grad_(False)
    sg.StyleGenerator.__init__ = gi6
if "nonoise" in flags:
    origS = sg.StyledConv.__init__
    def si(self, *a, **k):
        origS(self, *a, **k); del self.noise_strength; self.register_buffer("noise_strength", torch.zeros(self.bias.shape[0]))
    sg.StyledConv.__init__ = si
if "pl" in flags:  # StyleGAN2 lazy path length regularisation on G
    plw = flags["pl"] if flags["pl"] is not True else 2.0
    pl_every = int(flags.get("plevery", 4))
    origO = sg.StyleGANObjective.__init__
    def oi(self, *a, **k):
        origO(self, *a, **k)
        self.phases = self.phases + (ganzoo.Phase("PL", "G", "G", every=pl_every),)
        self.pl_mean = torch.zeros(())
    sg.StyleGANObjective.__init__ = oi
    origL = sg.StyleGANObjective.loss
    def ol(self, phase, batch):
        if phase != "PL": return origL(self, phase, batch)
        n = max(1, batch.real.shape[0] // 2); G = self.G
        z1 = torch.randn(n, self.latent_dim); z2 = torch.randn(n, self.latent_dim)
        w1 = G.styles(z1); w2 = G.styles(z2)
        cross = sg.draw_crossover(n, G.num_ws, self.mixing_prob)
        ws = sg.mix_styles(w1, w2, cross, G.num_ws)
        img = G.synthesis(ws)
        y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (g,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = g.square().sum(2).mean(1).sqrt()
        self.pl_mean = self.pl_mean.lerp(lengths.mean().detach(), 0.01)
        pen = (lengths - self.pl_mean).square().mean()
        return ganzoo.PhaseLoss(pen * plw * pl_every, {"pl/len": lengths.mean().detach(), "pl/pen": pen.detach()})
    sg.StyleGANObjective.loss = ol

if "nearest" in flags:
    import types
    _F = F
    def _interp(x, scale_factor=2, mode="nearest", align_corners=None): return _F.interpolate(x, scale_factor=scale_factor, mode="nearest")
    sg.F = types.SimpleNamespace(**{k: getattr(_F, k) for k in dir(_F) if not k.startswith("__")}); sg.F.interpolate = _interp
from ganzoo.eval.lenet import load_lenet, to_lenet_input
NET = load_lenet()
sets = dict(kv.split("=") for kv in sys.argv[4:])
sets = {k: float(v) if "." in v or "e" in v else int(v) for k, v in sets.items()}
LAT = sets.get("latent_dim", 128)
def style_mods(G):
    to_rgbs = G.to_rgbs if hasattr(G, "to_rgbs") else [G.to_rgb]
    return [m.conv for m in G.convs] + [m.conv for m in to_rgbs]
class Div:  # a trainer callback (ganzoo.training.callbacks): tr is the StepInfo
    def __init__(self): self.z = torch.randn(256, LAT, generator=torch.Generator().manual_seed(1))
    def on_fit_start(self, tr): pass
    def after_step(self, tr):
        if tr.step % 50: return {}
        res = {}
        for name in ("G", "G_ema"):
            G = tr.gan.networks[name]; was = G.training; G.eval()
            with torch.no_grad(): x = G(self.z); w = G.styles(self.z) if hasattr(G, "styles") else None
            G.train(was)
            u = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            with torch.no_grad(): p = NET(to_lenet_input(u))[1].softmax(1)
            pm = p.mean(0)
            res[f"eff/{name}"] = (-(pm * pm.clamp_min(1e-12).log()).sum()).exp().item()
            conf, cls = p.max(1); c = cls[conf >= 0.9]
            hist = torch.bincount(c, minlength=10)
            res[f"ncls/{name}"] = int((hist >= 3).sum()); res[f"conf/{name}"] = (conf >= 0.9).float().mean().item()
            res[f"top/{name}"] = (hist.max().item() / max(1, len(c)))
            xf = x[:64].flatten(1); res[f"pdist/{name}"] = torch.cdist(xf, xf).mean().item() / math.sqrt(xf.shape[1])
            if name == "G" and not "progG" in flags:
                rs = []
                with torch.no_grad():
                    for m in style_mods(G):
                        s = m.affine(w - G.w_avg) if "wcent" in flags else m.affine(w)
                        rs.append((s.std(0).pow(2).mean().sqrt() / s.mean(0).pow(2).mean().sqrt()).item())
                res["sr/convs"] = [round(r, 2) for r in rs[:7]]; res["sr/rgb"] = [round(r, 2) for r in rs[7:]]
                res["noise"] = [round(c.noise_strength.abs().mean().item(), 3) for c in G.convs]
        print(tr.step, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()}, flush=True)
        return {k: v for k, v in res.items() if not isinstance(v, list)}
api._live_evaluation = lambda *a, **k: (lambda data, config: [Div()])  # the callback factory train() asks for
ganzoo.train("stylegan-lite", "mnist", out=out, progress=False, sample_every=100, steps=steps, set=sets)
