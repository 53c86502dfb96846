#!/usr/bin/env python
"""Benchmark `flowerclf-predict` on this machine, side by side in one run (medians of several runs).

1. Cold start: one prediction of one real photo through the command, each in a fresh process, with a `.tflite`
   model, with a `.keras` model, and with a plain script doing what the original project's `predict.py` did
   (import TensorFlow, load the `.h5` with its hub layer, resize with `tf.image.resize`, `model.predict`); and the
   `.tflite` command with 20-view test-time augmentation (`--tta 20`, which loads TensorFlow to cut the views).
2. Throughput on N real test images (default 200, extracted from the TFDS test split), model already loaded:
   `Classifier.classify` in batches against the original one-image-at-a-time loop; and the whole command on
   the folder.

It needs the real data (`shared/realdata` beside the repo, or --realdata / $FLOWERCLF_REALDATA). It measures the
phone model of `--model DIR` (a `flowerclf-train --out` folder), or trains one with the default command (the any-size
MobileNetV2 0.35/96, a few minutes); it writes its work into a temporary folder that it removes at the end (unless
--keep), and its figures to `--out` (`benchmarks/predict.json`, which the README prints).

    python tools/bench_predict.py [--model DIR] [--runs 5] [--images 200] [--keep]
"""
from __future__ import annotations
import argparse, contextlib, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

# What the original project's predict.py did (tf.keras there; Keras 2 is tf_keras here, since Keras 3 cannot hold a
# hub.KerasLayer). Written to the temporary folder and run as a script for the cold start, and imported for the
# one-at-a-time loop.
ORIGINAL_PREDICT = '''
import argparse, json
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras as keras
from PIL import Image

def process_image(image, size):
    image = tf.convert_to_tensor(image, tf.float32)
    image = tf.image.resize(image, (size, size))
    image /= 255
    return image.numpy()

def predict(image_path, model, top_k=5):
    image = np.asarray(Image.open(image_path))
    ps = model.predict(np.expand_dims(process_image(image, model.input_shape[1]), axis=0))
    probs, classes = tf.math.top_k(ps, k=top_k)
    return probs.numpy()[0], classes.numpy()[0].astype(str)

if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('image_path'); parser.add_argument('saved_model')
    parser.add_argument('--top_k', type=int, default=1); parser.add_argument('--category_names')
    args = parser.parse_args()
    model = keras.models.load_model(args.saved_model, custom_objects={'KerasLayer': hub.KerasLayer})
    probs, classes = predict(args.image_path, model, args.top_k)
    print(probs, classes)
'''

def log(*args): print(*args, file=sys.stderr, flush=True)

def trained_model(real:Path, out:Path, model_dir:str|None)->dict:
    "The phone model as .keras, .h5 and .tflite: from `model_dir` (`flowerclf-train --out`), or trained by the default command"
    from flowerclf.saveload import load_model, save_model
    if model_dir is None:
        model_dir = out/'trained'
        from bench_recipes import train_command          # the benchmark's own default command, built in one place
        subprocess.run(train_command('default', model_dir, real=real), check=True)
    model_dir = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {'keras': model_dir/'model.keras', 'h5': save_model(load_model(model_dir/'model.keras'), out/'flowers.h5'),
            'tflite': model_dir/'model.tflite'}

def extract_test_images(real:Path, out:Path, n:int)->list:
    "Write the first n images of the TFDS test split as the JPEG files they are stored as (no re-encoding)"
    import tensorflow_datasets as tfds
    builder = tfds.builder('oxford_flowers102', data_dir=str(real/'tfds'))
    ds = builder.as_dataset(split='test', decoders={'image': tfds.decode.SkipDecoding()})
    out.mkdir(parents=True)
    for example in ds.take(n):
        (out/example['file_name'].numpy().decode()).write_bytes(example['image'].numpy())
    return sorted(out.iterdir())

def timed(argv:list, cwd=None)->tuple:
    "Wall time of a command in a fresh process, and its result"
    t = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    elapsed = time.perf_counter() - t
    if r.returncode: raise SystemExit(f"failed ({r.returncode}): {' '.join(map(str, argv))}\n{r.stdout}\n{r.stderr}")
    return elapsed, r

def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=5, help='runs per measurement (the median is reported)')
    parser.add_argument('--images', type=int, default=200, help='real test images for the throughput')
    parser.add_argument('--realdata', help='the real-data folder (default: find_realdata())')
    parser.add_argument('--keep', action='store_true', help='keep the temporary folder')
    parser.add_argument('--model', help='a `flowerclf-train --out` folder to measure (default: train one with the default command)')
    parser.add_argument('--out', default=str(Path(__file__).resolve().parents[1]/'benchmarks'/'predict.json'),
                        help='the JSON file the figures are written to (the README prints them)')
    args = parser.parse_args()
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from flowerclf.core import find_realdata
    real = Path(args.realdata) if args.realdata else find_realdata()
    if real is None or not (real/'tfds').is_dir(): raise SystemExit("no real data: pass --realdata DIR or set FLOWERCLF_REALDATA")
    work = Path(tempfile.mkdtemp(prefix='bench_predict_'))
    try: run(args, real, work)
    finally:
        if args.keep: log(f"kept {work}")
        else: shutil.rmtree(work, ignore_errors=True)

def run(args, real:Path, work:Path):
    from flowerclf.core import median_seconds          # the timings' one rule: the median of timed calls
    command = Path(sys.executable).parent/'flowerclf-predict'
    if not command.exists(): raise SystemExit(f"{command} is missing: run `pip install -e .`")
    t = time.perf_counter()
    models = trained_model(real, work/'models', args.model)
    log(f"  the model ready in {time.perf_counter() - t:.0f} s")
    images = extract_test_images(real, work/'images', args.images)
    log(f"extracted {len(images)} test images")
    (work/'original_predict.py').write_text(ORIGINAL_PREDICT)
    photo = real/'udacity_p2'/'test_images'/'cautleya_spicata.jpg'
    load = os.getloadavg()

    # 1. cold start, the three commands interleaved so that they share the machine's ups and downs
    cold = {'flowerclf-predict, .tflite': [command, photo, models['tflite']],
            'flowerclf-predict, .keras': [command, photo, models['keras']],
            'original predict.py, .h5': [sys.executable, work/'original_predict.py', photo, models['h5']],
            'flowerclf-predict, .tflite --tta 20': [command, photo, models['tflite'], '--tta', '20']}
    for argv in cold.values(): timed(argv)                     # warm the file cache, not counted
    times = {name: [] for name in cold}
    for i in range(args.runs):
        for name, argv in cold.items():
            elapsed, r = timed(argv); times[name].append(elapsed)
            if i == 0: log(f"  {name}: {r.stdout.strip().splitlines()[-1]}")
    cold_median = {name: statistics.median(t) for name, t in times.items()}

    # 2. throughput on the images: the whole command on the folder, in fresh processes
    runs = max(1, args.runs // 2 + 1)
    folder = {name: median_seconds(lambda: timed([command, work/'images', models[fmt], '--top_k', '5']), runs)
              for name, fmt in [('flowerclf-predict FOLDER, .tflite', 'tflite'), ('flowerclf-predict FOLDER, .keras', 'keras')]}

    # and in this process, model loaded once: batched against the original loop
    import importlib.util
    from flowerclf.predict import Classifier
    spec = importlib.util.spec_from_file_location('original_predict', work/'original_predict.py')
    original = importlib.util.module_from_spec(spec); spec.loader.exec_module(original)
    keras_clf, lite_clf = Classifier(models['keras']), Classifier(models['tflite'])
    def one_at_a_time():
        with open(os.devnull, 'w') as null, contextlib.redirect_stdout(null):     # model.predict's progress bars
            for p in images: original.predict(p, keras_clf.model, 5)
    def batched(clf): return lambda: list(clf.classify(images, top_k=5))
    throughput = {'one at a time (original loop), .keras': median_seconds(one_at_a_time, runs, warmup=1),
                  'batched (Classifier.classify), .keras': median_seconds(batched(keras_clf), runs, warmup=1),
                  'batched (Classifier.classify), .tflite': median_seconds(batched(lite_clf), runs, warmup=1)}
    n = len(images)
    print(f"\nMachine: {os.cpu_count()} CPU cores, load average {load[0]:.1f} before the measurements "
          f"(other processes compete for the cores); {args.runs} runs per cold start, {runs} per throughput; medians.\n")
    print("| cold start: one photo, fresh process | median |\n|---|---|")
    for name, t in cold_median.items(): print(f"| {name} | {t:.2f} s |")
    print(f"\n| throughput: {n} real test images | median | images/s |\n|---|---|---|")
    for name, t in {**throughput, **folder}.items(): print(f"| {name} | {t:.2f} s | {n / t:.0f} |")
    from flowerclf.core import write_json
    write_json(args.out, {'cpu_count': os.cpu_count(), 'load_before': load, 'runs': args.runs, 'images': n,
                          'image_size': json.loads((Path(models['tflite']).parent/'metrics.json').read_text())['image_size'],
                          'cold_start_s': cold_median, 'cold_start_each_s': times, 'throughput_s': {**throughput, **folder}})
    tfl, ker, orig, tta = cold_median.values()
    one, bk, bl = throughput.values()
    print(f"\nGoals: .tflite cold start {tfl:.2f} s (< 1.5 s: {'met' if tfl < 1.5 else 'NOT met'}); "
          f".keras / .tflite = {ker / tfl:.1f}x (>= 3x: {'met' if ker / tfl >= 3 else 'NOT met'}); "
          f"original / .tflite = {orig / tfl:.1f}x; batched / one at a time (.keras) = {one / bk:.1f}x "
          f"(>= 2x: {'met' if one / bk >= 2 else 'NOT met'}); with .tflite {one / bl:.1f}x; "
          f".tflite --tta 20 cold start {tta:.2f} s ({tta / tfl:.0f}x the one-view one)")

if __name__ == '__main__': main()
