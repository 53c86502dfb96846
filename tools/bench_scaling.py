"""Scaling benchmark of the fast path's feature extraction on the real data: 1 worker pinned to 1 core against
2 workers (multi_worker, on 127.0.0.1) with 1 core each, interleaved, several times; medians.

    python tools/bench_scaling.py [--reps 3] [--backbone DIR] [--image_size N] [--out benchmarks/scaling.json]

Each run extracts the features of one centre view of every image of the train, validation and test splits (8,189
images) with `cached_features`, the code `flowerclf-train` runs, shard files and barriers included; the clock runs
between two barriers, so start-up (TensorFlow, the backbone, the cluster) is not counted. It reports the wall time
of each configuration, the speed-up (1 worker's time over 2 workers') and the efficiency (speed-up / 2), and the CPU
time the workers used: on a machine that other jobs share, CPU time per image is what stays comparable, and the
wall-clock figures hold only as far as the cores were free (the load average before each run is recorded).
"""
from __future__ import annotations
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

def worker(cache:str, backbone:str, image_size:int|None):
    "One worker: extract its shards between two barriers; the chief prints the figures as JSON"
    from flowerclf.training import make_strategy
    strategy = make_strategy('multi_worker' if os.environ.get('TF_CONFIG') else 'none')    # first
    import tensorflow as tf
    from flowerclf.core import realdata
    from flowerclf.data import load_flowers
    from flowerclf.model import get_backbone, feature_extractor
    from flowerclf.training import cached_features, barrier, worker_count, worker_index, _worker_sum
    bb = get_backbone(backbone, image_size); layer = feature_extractor(bb)
    datasets, _ = load_flowers(realdata()/'tfds')
    layer(tf.zeros((1, bb.image_size, bb.image_size, 3)))       # load and trace the backbone before the clock starts
    barrier(strategy); t0, c0 = time.time(), time.process_time()
    n = 0
    for split in ('train', 'validation', 'test'):
        n += len(cached_features(layer, datasets[split], bb.image_size, cache=Path(cache), name=split, strategy=strategy)[1])
    cpu = time.process_time() - c0
    barrier(strategy); wall = time.time() - t0
    cpu_all = float(_worker_sum(strategy, cpu, only_chief=False))
    if worker_index(strategy) == 0:
        print(json.dumps({'workers': worker_count(strategy), 'images': n, 'seconds': round(wall, 2),
                          'cpu_seconds': round(cpu_all, 2), 'image_size': bb.image_size}), flush=True)

def last_json(text:str)->dict: return json.loads([l for l in text.splitlines() if l.startswith('{')][-1])

def one_run(workers:int, args)->dict:
    "Time one configuration in fresh processes: 1 worker on core 0, or `workers` workers on one core each"
    cache, load = tempfile.mkdtemp(prefix='flowerclf-bench-'), os.getloadavg()[0]
    me = [sys.executable, __file__, '--worker', cache, '--backbone', args.backbone] + (['--image_size', str(args.image_size)] if args.image_size else [])
    try:
        if workers == 1:
            r = subprocess.run(['taskset', '-c', '0', *me], capture_output=True, text=True, timeout=1800)
            assert r.returncode == 0, r.stderr[-2000:]; result = last_json(r.stdout)
        else:
            logs = Path(tempfile.mkdtemp())
            try: result = run_pinned(me, workers, logs)
            finally: shutil.rmtree(logs, ignore_errors=True)
    finally: shutil.rmtree(cache, ignore_errors=True)
    return {**result, 'load_before': round(load, 2)}

def run_pinned(cmd:list, workers:int, logs:Path)->dict:
    "Run `workers` workers of `cmd`, worker i pinned to core i, with the launcher's pieces; the chief's JSON"
    from flowerclf.cli import free_ports, tf_configs, start_workers, wait_for_workers, stop_workers
    configs = tf_configs([f'127.0.0.1:{p}' for p in free_ports(workers)])
    procs, threads = [], []
    for i, config in enumerate(configs):
        p, t = start_workers(['taskset', '-c', str(i % os.cpu_count()), *cmd], [config], [logs/f'worker-{i}.log'], echo=False)
        procs += p; threads += t
    try: failed = wait_for_workers(procs, time.monotonic() + 1800)
    finally: stop_workers(procs)
    for t in threads: t.join(timeout=5)
    assert not failed, (logs/f'worker-{failed[0]}.log').read_text()[-2000:]
    return last_json((logs/'worker-0.log').read_text())

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--backbone', default=None, help="default: the real any-size MobileNetV2 0.35/96, at the registry's size")
    ap.add_argument('--image_size', type=int, default=None)
    ap.add_argument('--out', default=str(Path(__file__).resolve().parents[1]/'benchmarks'/'scaling.json'))
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.backbone is None:
        from flowerclf.core import realdata
        args.backbone = str(realdata()/'backbones'/'mobilenet_v2_035_96_anysize')
    if args.worker: worker(args.worker, args.backbone, args.image_size); sys.exit(0)
    runs = {1: [], 2: []}
    for rep in range(args.reps):
        for w in (1, 2):
            runs[w].append(one_run(w, args)); print(f"rep {rep + 1}, {w} worker(s): {json.dumps(runs[w][-1])}", file=sys.stderr)
    median = {w: statistics.median(r['seconds'] for r in rs) for w, rs in runs.items()}
    cpu = {w: statistics.median(r['cpu_seconds'] for r in rs) for w, rs in runs.items()}
    speedup = median[1] / median[2]
    report = {'images': runs[1][0]['images'], 'image_size': runs[1][0]['image_size'], 'reps': args.reps,
              'seconds_1_worker_1_core': median[1], 'seconds_2_workers_1_core_each': median[2],
              'speedup': round(speedup, 2), 'efficiency': round(speedup / 2, 2),
              'speedup_per_rep': [round(a['seconds'] / b['seconds'], 2) for a, b in zip(runs[1], runs[2])],
              'cpu_seconds_1_worker': cpu[1], 'cpu_seconds_2_workers': cpu[2],
              'cpu_overhead_of_2_workers': round(cpu[2] / cpu[1], 2),
              'load_before': [r['load_before'] for rs in runs.values() for r in rs], 'runs': runs}
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != 'runs'}, indent=1))
