"""GUI frame rate while a projection runs in the Explore panel (private Xvfb, the real app).

    .venv/bin/python -m benchmarks.bench_explore_gui [--seconds 10] [--json out.json]
    .venv/bin/python -m benchmarks.bench_explore_gui --res 64 --cbase 16384 --cmax 128

Measures the idle frame rate, then the frame rate while the projection panel's background job optimises (target:
>= 30 frames/s), and the projection's steps/s meanwhile. Without --res the window shows the network `make run`
opens (the shipped SG3-T when there is one; its pickle has no D, so the projection's loss is pixels only); with
--res it shows a randomly initialised StyleGAN3-T of that size saved with a StyleGAN2 D, so the projection runs
the D-features term as it does on a training snapshot: the heavier job, which is where a projection competes with
the window for the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from . import timing


def _network(root: str, res: int, cbase: int, cmax: int) -> str:
    """A random StyleGAN3-T generator with a StyleGAN2 discriminator, saved as the project's pickle."""
    import torch

    import networks
    from networks import stylegan2, stylegan3

    torch.manual_seed(0)
    G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3, channel_base=cbase,
                            channel_max=cmax).eval()
    D = stylegan2.Discriminator(c_dim=0, img_resolution=res, img_channels=3, channel_base=cbase,
                                channel_max=cmax).eval()
    path = os.path.join(root, f'sg3t-{res}-with-d.pkl')
    networks.save_network_pkl(path, {'G_ema': G, 'D': D})
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seconds', type=float, default=10.0)
    p.add_argument('--json', default=None)
    p.add_argument('--res', type=int, default=0, help='a random StyleGAN3-T + D of this resolution (0: the default '
                   'network)')
    p.add_argument('--cbase', type=int, default=16384, help='channel_base of the --res network')
    p.add_argument('--cmax', type=int, default=128, help='channel_max of the --res network')
    opts = p.parse_args(argv)
    env = timing.environment()
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from gui_utils.xvfb import start_xvfb

    xvfb, display = start_xvfb()
    os.environ['DISPLAY'] = display
    import torch

    torch.set_num_threads(1)
    from networks.image_write import save_png
    from viz.core.render_types import RenderArgs
    from viz.core.renderer import Renderer
    from viz.gui.app import VisualizerApp

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ['XDG_CONFIG_HOME'] = tmp  # the app's recent list: not the user's settings file
        try:
            pkl = _network(tmp, opts.res, opts.cbase, opts.cmax) if opts.res else None
            target = os.path.join(tmp, 'target.png')
            from viz.core.default_network import default_pkl

            first = Renderer().render(RenderArgs(w0_seeds=((3, 1.0),), pkl=pkl or default_pkl()))
            if first.error:
                raise SystemExit(f'error: {first.error}')
            save_png(target, first.image)
            results['network'] = dict(first.network, has_d=bool(pkl))
            from visualizer import startup_pkls

            # the network `make run` opens (the shipped SG3-T when there is one), or the --res one
            app = VisualizerApp(pkls=[] if pkl else startup_pkls([], None), capture_dir=os.path.join(tmp, 'captures'))
            if pkl:
                app.pickle_widget.load(pkl)
            try:
                app.window.fps_limit = 0
                app.perf_widget.fps_limit = 0
                while app.rendering or app.result is None or app.result.args.pkl != app.args.pkl:
                    app.frame()

                def fps(seconds: float) -> float:
                    t0, n = time.perf_counter(), 0
                    while time.perf_counter() - t0 < seconds:
                        app.frame()
                        n += 1
                    return n / (time.perf_counter() - t0)

                results['idle_fps'] = fps(2.0)
                widget = app.projection_widget
                widget.target, widget.steps = target, 100_000
                widget.start()
                while widget.job.progress == 0 and not widget.job.done:  # network loaded, first step taken
                    app.frame()
                start_progress, t0 = widget.job.progress, time.perf_counter()
                results['projecting_fps'] = fps(opts.seconds)
                steps = (widget.job.progress - start_progress) * widget.steps
                results['projection_steps_per_s'] = steps / (time.perf_counter() - t0)
                widget.job.stop()
                widget.job.wait(60)
                results['job_error'] = widget.job.error
                results['job_status'] = widget.job.status
            finally:
                app.close()
        finally:
            xvfb.kill()
            xvfb.wait()
    results['env'] = dict(env, load_after=timing.environment()['load'])
    ok = results['projecting_fps'] >= 30 and results['job_error'] is None
    net = results['network']
    what = f'{net.get("name", "?")} ({net.get("resolution", "?")} px{", with D" if net["has_d"] else ""})'
    print(f'{what}: GUI fps idle {results["idle_fps"]:.0f}, while projecting {results["projecting_fps"]:.0f} '
          f'({results["projection_steps_per_s"]:.1f} projection steps/s); {timing.describe(results["env"])}; '
          f'{"PASS" if ok else "FAIL"} (>= 30 fps)')
    if opts.json:
        with open(opts.json, 'w') as f:
            json.dump(results, f, indent=2)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
