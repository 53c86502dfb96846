#!/usr/bin/env python
"""Benchmark training on the real data: the fast path against end to end.

Speed, side by side in one run: the same classifier (frozen MobileNetV2 0.35/96, dropout 0.2 + softmax layer, no
L2, Adam 1e-3, seed 0, so the same initial weights, and batches of `--batch_size`: 32 as in the original recipe,
128 as in the default recipe, or both, one comparison each) trained for exactly `--epochs` (20) epochs on
the centre view of the 1,020 training images, with the validation split scored after every epoch and no early
stopping (the weights of the last epoch are kept), in two ways:
- end to end (the original recipe): `build_model` + `fit` on `make_pipeline` batches, so every epoch runs every
  image through the backbone again; with `--e2e_cache on` (the default, the stricter comparison) the decoded
  images are kept in memory after the first epoch, with `off` every epoch decodes the JPEGs again, as the original
  project's notebook did;
- the fast path: `extract_features` of the centre view once per split, `build_head`, `fit` on the features,
  `assemble_model`.
Both final models are then scored the same way on the full 6,149-image test split (`predict_dataset` + `scores`),
timed separately. Each run is a fresh process; the runs of the two paths alternate so that they share the
machine's ups and downs; medians are reported.
(The wall time and peak memory of the real `flowerclf-train` commands are measured by `tools/bench_recipes.py`.)

It needs the real data (`shared/realdata` beside the repo, or --realdata / $FLOWERCLF_REALDATA) and writes only into
a temporary folder that it removes at the end (unless --keep), and its figures to `--out` (`benchmarks/train.json`).
It prints Markdown tables.

    python tools/bench_train.py [--repeats 3] [--e2e_repeats 2] [--epochs 20] [--batch_size 32 [128]] [--e2e_cache on [off]] [--keep] [--out benchmarks/train.json]

On 2 shared CPU cores: about 3 to 5 minutes per comparison (3 + 2 runs).
"""
from __future__ import annotations
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

BACKBONE = 'mobilenet_v2_035_96'
PATHS = {'fast': 'fast path (features once)', 'e2e': 'end to end'}

def log(*args): print(*args, file=sys.stderr, flush=True)

def train_one(path:str, real:Path, epochs:int, batch_size:int, cache:bool=True)->dict:
    "Train the classifier one way (`path`: 'fast' or 'e2e'), then score it on the test split; times in seconds"
    from flowerclf.data import load_flowers
    from flowerclf.pipeline import View, make_pipeline
    from flowerclf.model import build_model, feature_extractor, get_backbone
    from flowerclf.training import assemble_model, build_head, extract_features
    from flowerclf.evaluation import predict_dataset, scores
    ds, _ = load_flowers(real/'tfds')
    bb = get_backbone(real/'backbones'/BACKBONE)
    head = dict(dropout=0.2, learning_rate=1e-3, seed=0)     # build_model's head: no L2
    fit = dict(epochs=epochs, verbose=0)
    times, t0, cpu0 = {}, time.perf_counter(), time.process_time()
    def lap(stage): times[stage] = time.perf_counter() - t0 - sum(times.values())
    if path == 'fast':
        layer = feature_extractor(bb)
        (x_train,), y_train = extract_features(layer, ds['train'], bb.image_size, views=(View(),))
        (x_val,), y_val = extract_features(layer, ds['validation'], bb.image_size, views=(View(),))
        lap('prepare_s')
        model = build_head(x_train.shape[1], l2=0.0, **head)
        history = model.fit(x_train, y_train, batch_size=batch_size, validation_data=(x_val, y_val),
                            validation_batch_size=1024, **fit)   # as fit_resumable does for features
        lap('fit_s')
        model = assemble_model(bb, model, head['learning_rate'], extractor=layer)
    else:
        model = build_model(bb, **head)
        lap('prepare_s')
        history = model.fit(make_pipeline(ds['train'], bb.image_size, batch_size, training=True, cache=cache, seed=0),
                            validation_data=make_pipeline(ds['validation'], bb.image_size, batch_size, cache=cache), **fit)
        lap('fit_s')
    lap('assemble_s')
    result = {**times, 'train_cpu_s': time.process_time() - cpu0, 'train_s': sum(times.values())}
    t = time.perf_counter()
    probs, labels = predict_dataset(model, ds['test'])
    result['eval_s'] = time.perf_counter() - t
    h = history.history
    return {**result, 'epochs_run': len(h['loss']), 'val_top1': h['val_accuracy'][-1], **scores(probs, labels)}

def run_measured(argv:list, log_path:Path)->dict:
    "Run a command in a fresh process (output to `log_path`): its wall time, peak RSS and exit code"
    t = time.perf_counter()
    with open(log_path, 'w') as out:
        p = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss * (1 if sys.platform == 'darwin' else 1024)       # bytes on macOS, KiB on Linux
    return {'wall_s': time.perf_counter() - t, 'rss_gib': rss / 2**30, 'rc': p.returncode, 'load': os.getloadavg()[0]}

def checked(r:dict, what:str, log_path:Path)->dict:
    if r['rc']: raise SystemExit(f"{what} failed (exit code {r['rc']}):\n" + log_path.read_text()[-4000:])
    return r

def bench_paths(args, real:Path, work:Path, batch_size:int, cache:str)->dict:
    "Alternate fresh-process runs of the two paths: {path: [results]}"
    order = []
    for i in range(max(args.repeats, args.e2e_repeats)):
        order += [p for p, n in (('fast', args.repeats), ('e2e', args.e2e_repeats)) if i < n]
    runs = {p: [] for p in PATHS}
    log(f"batch size {batch_size}, end-to-end cache {cache}:")
    for i, path in enumerate(order):
        name = f'{batch_size}-{cache}-{i}-{path}'
        out, log_path = work/f'{name}.json', work/f'{name}.log'
        r = checked(run_measured([sys.executable, __file__, '--realdata', real, '--epochs', args.epochs,
                                  '--batch_size', batch_size, '--e2e_cache', cache, '--_worker', path, '--_out', out], log_path),
                    PATHS[path], log_path)
        runs[path].append({**json.loads(out.read_text()), **r})
        x = runs[path][-1]
        log(f"  {PATHS[path]}: train {x['train_s']:.1f} s, test top-1 {x['top1']:.2%}, evaluation {x['eval_s']:.1f} s, "
            f"peak RSS {x['rss_gib']:.2f} GiB, load {x['load']:.1f}")
    return runs

def med(runs:list, key:str)->float: return statistics.median(r[key] for r in runs)

def report_paths(args, batch_size:int, cache:str, runs:dict):
    "The Markdown table of one comparison, and the goals"
    fast, e2e = runs['fast'], runs['e2e']
    print(f"\nBackbone {BACKBONE} (frozen, 96 px), centre view, {args.epochs} epochs on the 1,020 training images, "
          f"validation every epoch, head dropout 0.2 / no L2 / Adam 1e-3 / **batch {batch_size}** / seed 0; end to end, the images "
          f"**{'decoded once and cached in memory' if cache == 'on' else 'decoded again every epoch'}**; scored on the {fast[0]['n']:,} test images. Medians of {len(fast)} fast and {len(e2e)} end-to-end runs, each in a fresh "
          f"process, alternating; all times in seconds.\n")
    print("| path | training: wall (each run) | of it: backbone + features / fit / assemble | training: CPU time | "
          "test evaluation | process wall | peak RSS | test top-1 | test top-5 |\n|---|---|---|---|---|---|---|---|---|")
    for path, rs in runs.items():
        each = ', '.join(f"{r['train_s']:.1f}" for r in rs)
        stages = ' / '.join(f"{med(rs, k):.1f}" for k in ('prepare_s', 'fit_s', 'assemble_s'))
        acc = lambda k: ' / '.join(sorted({f"{r[k]:.2%}" for r in rs}))
        print(f"| {PATHS[path]} | {med(rs, 'train_s'):.1f} ({each}) | {stages} | {med(rs, 'train_cpu_s'):.1f} | "
              f"{med(rs, 'eval_s'):.1f} | {med(rs, 'wall_s'):.1f} | {max(r['rss_gib'] for r in rs):.2f} GiB | "
              f"{acc('top1')} | {acc('top5')} |")
    ratio, gap = med(e2e, 'train_s') / med(fast, 'train_s'), abs(med(e2e, 'top1') - med(fast, 'top1'))
    pairs = ', '.join(f"{e['train_s'] / f['train_s']:.1f}×" for f, e in zip(fast, e2e))
    cpu = med(e2e, 'train_cpu_s') / med(fast, 'train_cpu_s')
    print(f"\nSpeed-up of training (end to end / fast, medians): **{ratio:.1f}×** (run by run: {pairs}; in CPU time "
          f"{cpu:.1f}×); goal ≥ 5×: {'met' if ratio >= 5 else 'NOT met'}. Test top-1 difference: {gap * 100:.2f} points; "
          f"goal ≤ 1 point: {'met' if gap <= 0.01 else 'NOT met'}.")

def save(out:Path, args, load:tuple, runs:dict):
    "Write every run's figures, and the medians, to `out` (what was there is replaced)"
    from flowerclf.core import write_json
    paths = [{'batch_size': b, 'e2e_cache': c, 'epochs': args.epochs, 'backbone': BACKBONE, 'runs': r,
              'median': {path: {k: med(rs, k) for k in ('train_s', 'train_cpu_s', 'prepare_s', 'fit_s', 'assemble_s', 'eval_s', 'top1', 'top5')}
                         for path, rs in r.items()}}
             for (b, c), r in runs.items()]
    write_json(out, {'cpu_count': os.cpu_count(), 'load_before': load, 'load_after': os.getloadavg(), 'paths': paths})
    log(f"wrote {out}")

def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3, help='runs of the fast path (the median is reported)')
    parser.add_argument('--e2e_repeats', type=int, default=2, help='runs of the end-to-end path')
    parser.add_argument('--epochs', type=int, default=20, help='epochs of each path')
    parser.add_argument('--batch_size', type=int, nargs='+', default=[32],
                        help='batch size of both paths; several: one comparison each (32: the original recipe, 128: the default recipe)')
    parser.add_argument('--e2e_cache', choices=['on', 'off'], nargs='+', default=['on'],
                        help='end to end: keep the decoded images in memory (on) or decode them every epoch (off); both: one comparison each')
    parser.add_argument('--realdata', help='the real-data folder (default: find_realdata())')
    parser.add_argument('--keep', action='store_true', help='keep the temporary folder')
    parser.add_argument('--out', default=str(Path(__file__).resolve().parents[1]/'benchmarks'/'train.json'),
                        help='the JSON file the figures are written to (the training notebook prints them)')
    parser.add_argument('--_worker', choices=list(PATHS), help=argparse.SUPPRESS)
    parser.add_argument('--_out', help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from flowerclf.core import find_realdata
    real = Path(args.realdata) if args.realdata else find_realdata()
    if real is None or not (real/'tfds').is_dir(): raise SystemExit("no real data: pass --realdata DIR or set FLOWERCLF_REALDATA")
    if args._worker:
        Path(args._out).write_text(json.dumps(train_one(args._worker, real.resolve(), args.epochs, args.batch_size[0],
                                                        args.e2e_cache[0] == 'on')))
        return
    if min(args.repeats, args.e2e_repeats) < 1: raise SystemExit("--repeats and --e2e_repeats must be at least 1")
    work, load = Path(tempfile.mkdtemp(prefix='bench_train_')), os.getloadavg()
    try:
        runs = {(b, c): bench_paths(args, real.resolve(), work, b, c) for b in args.batch_size for c in args.e2e_cache}
        print(f"Machine: {os.cpu_count()} CPU cores; load average (1/5/15 min) {' / '.join(f'{x:.2f}' for x in load)} "
              f"before and {' / '.join(f'{x:.2f}' for x in os.getloadavg())} after the measurements.")
        for (batch_size, cache), r in runs.items(): report_paths(args, batch_size, cache, r)
        save(Path(args.out), args, load, runs)
    finally:
        if args.keep: log(f"kept {work}")
        else: shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': main()
