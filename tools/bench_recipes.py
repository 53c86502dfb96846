#!/usr/bin/env python
"""Benchmark of the recipes on the real data: every figure of the training notebook's recipe table and plot, and of
the README. Needs the real data (`shared/realdata` beside the repo, or $FLOWERCLF_REALDATA).

    python tools/bench_recipes.py [--what runs sizes] [--runs default best best_tv] [--out benchmarks/recipes.json]
    python tools/bench_recipes.py --what latency --work DIR     # latency again, of the runs kept in DIR

- `sizes`: `choose_image_size` with the any-size MobileNetV2 0.35/96 and a recipe (`--size_recipe`, default
  'default'), trained on the train split at each input size: the validation top-1 it chooses by, the size it
  chooses, and, to report only, each size's test top-1 on one view and the one-photo LiteRT latency of its model.
- `runs`: the issue's three commands, each `flowerclf-train` in a fresh process on the real data with that backbone
  and no option beyond the recipe's (`default`: no option; `best`: `--recipe best`; `best_tv`: `--recipe best
  --train_on train+validation`). From each run: its `metrics.json` figures (one view, and the TTA ones; the mean of
  the per-class test top-1, which weighs each class the same, as the validation split does), its wall
  time and peak memory (RSS), the size of `model.tflite`, the one-photo latency with the model loaded (`Classifier.predict` on a real
  photo file, LiteRT, medians of 50 after a warm-up: reading and preparing the photo included, and the model alone),
  and the cold start of `flowerclf-predict PHOTO model.tflite` (median of 5 fresh processes).

Results are written to the JSON file as each one completes (a partial run keeps what it measured); the load average
before each measurement is recorded, since this machine's CPU is shared. Outputs of the runs go to a temporary
folder (`--work` to keep them), never into the repository.
"""
from __future__ import annotations
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO/'tools'))
from bench_train import run_measured      # a fresh process: wall time, peak RSS, exit code
from flowerclf.core import median_seconds, write_json   # timings: medians of calls; JSON: written atomically after each step
RUNS = {'default': [], 'best': ['--recipe', 'best'], 'best_tv': ['--recipe', 'best', '--train_on', 'train+validation']}

def train_command(name:str, out:Path, backbone:str|None=None, real:Path|None=None)->list:
    "The `flowerclf-train` command of the run `name` of `RUNS` on the real data (`real`, or found), writing to `out`"
    from flowerclf.core import realdata
    real = Path(real or realdata())
    backbone = backbone or real/'backbones'/'mobilenet_v2_035_96_anysize'
    return [str(Path(sys.executable).with_name('flowerclf-train')), '--data_dir', str(real/'tfds'),
            '--backbone', str(backbone), '--out', str(out), '--quiet', *RUNS[name]]

def photo()->Path:
    from flowerclf.core import realdata
    return sorted((realdata()/'udacity_p2'/'test_images').glob('*.jpg'))[0]

def latency(model_path:Path, runs:int=50, tta:int=0)->dict:
    "Milliseconds for one photo with the model loaded: the whole `Classifier.predict` of a file, and the model alone"
    from flowerclf.predict import Classifier
    clf = Classifier(model_path); clf.warm_up()
    path = photo(); x = clf.read(path)
    def ms(f): return round(1000 * median_seconds(f, runs, warmup=5), 2)
    m = {'photo_ms': ms(lambda: clf.predict(path)), 'model_ms': ms(lambda: clf.probabilities([x])),
         'threads': os.cpu_count()}
    if tta:                                   # `flowerclf-predict --tta N`: N views of the photo, averaged
        views = Classifier(model_path, tta=tta); views.warm_up()
        m[f'photo_ms_tta{tta}'] = ms(lambda: views.predict(path))
    return m

def cold_start(model_path:Path, runs:int=5)->float:
    "Median seconds of `flowerclf-predict PHOTO MODEL` in fresh processes"
    argv = [str(Path(sys.executable).with_name('flowerclf-predict')), str(photo()), str(model_path)]
    def predict_once(): r = subprocess.run(argv, capture_output=True, text=True); assert r.returncode == 0, r.stderr
    return round(median_seconds(predict_once, runs), 3)

def bench_sizes(args, results:dict, out:Path):
    "`choose_image_size` on the real data with a recipe; each size's model also scored on the test split and timed, to report"
    import numpy as np
    from flowerclf.core import realdata
    from flowerclf.data import load_flowers
    from flowerclf.training import choose_image_size, validation_top1, cached_features
    from flowerclf.saveload import export_tflite
    datasets, _ = load_flowers(realdata()/'tfds')
    sweep = results.setdefault('sizes', {})[args.size_recipe] = {'recipe': args.size_recipe, 'per_size': {}}
    def report(size, r):                 # the test split is scored after the size's validation figure is fixed
        load = os.getloadavg()[0]
        probs, labels = cached_features(r.model, datasets['test'], size)
        path = export_tflite(r.model, Path(args.work)/f'{args.size_recipe}_{size}.tflite', overwrite=True)
        sweep['per_size'][str(size)] = {'validation_top1': validation_top1(r), 'test_top1': float(np.mean(probs[0].argmax(1) == labels)),
                                        'seconds': round(r.seconds, 1), 'tflite_bytes': path.stat().st_size, **latency(path),
                                        'load_before': round(load, 2)}
        write_json(out, results); print(f"size {size}: {sweep['per_size'][str(size)]}", flush=True)
    t0 = time.time()
    chosen, val = choose_image_size(datasets, args.backbone, tuple(args.sizes), args.size_recipe, on_trained=report)
    sweep.update(chosen=chosen, validation_top1={str(s): v for s, v in val.items()}, seconds=round(time.time() - t0, 1))
    write_json(out, results)

def bench_run(name:str, args, results:dict, out:Path):
    "One `flowerclf-train` command on the real data, timed, with its model's size and latency"
    from flowerclf.core import realdata
    run = Path(args.work)/name
    shutil.rmtree(run, ignore_errors=True)
    cmd = train_command(name, run, args.backbone)
    log = Path(args.work)/f'{name}.log'
    load = os.getloadavg()[0]
    r = run_measured(cmd, log)                  # wall time, peak memory (RSS), exit code
    if r['rc']: sys.exit(f"{name}: flowerclf-train failed ({r['rc']}):\n{log.read_text()[-3000:]}")
    m = json.loads((run/'metrics.json').read_text())
    results.setdefault('runs', {})[name] = {
        'command': 'flowerclf-train ' + ' '.join(RUNS[name]), 'image_size': m['image_size'], 'recipe': m['recipe'],
        'train_on': m['train_on'], 'test': m['test'], 'test_tta': m.get('test_tta'), 'validation': m['validation'],
        'test_per_class_mean': sum(m['per_class'].values()) / len(m['per_class']),   # each class weighs the same, as in validation
        'epochs': m['epochs'], 'fine_tune': m['fine_tune'], 'train_seconds': m['seconds'], 'wall_seconds': round(r['wall_s'], 1),
        'peak_rss_gib': round(r['rss_gib'], 2),
        'tflite_bytes': (run/'model.tflite').stat().st_size, **latency(run/'model.tflite', tta=m.get('test_tta', {}).get('views', 0)),
        'cold_start_s': cold_start(run/'model.tflite'), 'load_before': round(load, 2)}
    write_json(out, results)
    print(name, json.dumps(results['runs'][name]), flush=True)

def bench_latency(args, results:dict, out:Path):
    "Measure again the latency and cold start of the runs kept in `--work` (another time, or a quieter machine)"
    for name, r in results.get('runs', {}).items():
        model = Path(args.work)/name/'model.tflite'
        if not model.exists(): continue
        r.update(latency(model, tta=(r.get('test_tta') or {}).get('views', 0)), cold_start_s=cold_start(model),
                 latency_load_before=round(os.getloadavg()[0], 2))
        write_json(out, results); print(name, {k: v for k, v in r.items() if 'ms' in k or 'cold' in k}, flush=True)

def main():
    from flowerclf.core import realdata
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--what', nargs='+', default=['runs', 'sizes'], choices=['runs', 'sizes', 'latency'])
    p.add_argument('--runs', nargs='+', default=list(RUNS), choices=list(RUNS))
    p.add_argument('--sizes', nargs='+', type=int, default=[96, 128, 160, 192, 224])
    p.add_argument('--size_recipe', default='default', help='the recipe `choose_image_size` measures at each size')
    p.add_argument('--backbone', default=str(realdata()/'backbones'/'mobilenet_v2_035_96_anysize'))
    p.add_argument('--out', default=str(REPO/'benchmarks'/'recipes.json'))
    p.add_argument('--work', default=None, help='folder for the runs (default: a temporary one, removed)')
    args = p.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results['machine'] = f"{os.cpu_count()} CPU cores, no GPU"; results['backbone'] = Path(args.backbone).name
    keep = args.work is not None
    args.work = args.work or tempfile.mkdtemp(prefix='flowerclf-bench-')
    Path(args.work).mkdir(parents=True, exist_ok=True)
    try:
        if 'runs' in args.what:
            for name in args.runs: bench_run(name, args, results, out)
        if 'sizes' in args.what: bench_sizes(args, results, out)
        if 'latency' in args.what: bench_latency(args, results, out)
    finally:
        if not keep: shutil.rmtree(args.work, ignore_errors=True)

if __name__ == '__main__':
    from flowerclf.core import native_noise_filtered
    with native_noise_filtered(): main()
